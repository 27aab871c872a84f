//! Small value types with one canonical text form: AS numbers, cluster ids,
//! address families and secrets.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a textual AS number or cluster id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    #[error("{0:?} is not an AS number (expected 1..4294967295 or asdot such as 1.10)")]
    Asn(String),
    #[error(
        "{0:?} is not a cluster id (expected a dotted quad such as 1.0.0.1 or a 32-bit integer)"
    )]
    ClusterId(String),
    #[error(
        "{0:?} is not a usable cluster id: 0.0.0.0 is no cluster id (BIRD would announce its router id instead); pick a non-zero one such as 1.0.0.1"
    )]
    ZeroClusterId(String),
}

/// A 4-byte BGP AS number. Accepts plain (`65000`) and asdot (`1.10`) text;
/// always prints plain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asn(pub u32);

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Asn {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseIdError::Asn(s.to_owned());
        let t = s.trim();
        let value = match t.split_once('.') {
            Some((high, low)) => {
                let high: u16 = high.parse().map_err(|_| bad())?;
                let low: u16 = low.parse().map_err(|_| bad())?;
                (u32::from(high) << 16) | u32::from(low)
            }
            None => t.parse().map_err(|_| bad())?,
        };
        if value == 0 {
            return Err(bad());
        }
        Ok(Asn(value))
    }
}

impl Serialize for Asn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Asn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n != 0)
                .map(Asn)
                .ok_or_else(|| serde::de::Error::custom(ParseIdError::Asn(n.to_string()))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// An RFC 4456 cluster id: 32 bits, written as a dotted quad. The plain
/// integer form (`16777217`) is accepted and normalised (`1.0.0.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub u32);

impl ClusterId {
    /// A cluster id from its 32 bits; 0 (0.0.0.0) is refused: daemons treat
    /// it as "none" and put their router id on the wire instead. `text` is
    /// the value as written, for the error.
    pub fn new(value: u32, text: &str) -> Result<Self, ParseIdError> {
        if value == 0 {
            return Err(ParseIdError::ZeroClusterId(text.to_owned()));
        }
        Ok(ClusterId(value))
    }

    pub fn as_ipv4(self) -> Ipv4Addr {
        Ipv4Addr::from(self.0)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_ipv4())
    }
}

impl FromStr for ClusterId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(ip) = t.parse::<Ipv4Addr>() {
            return ClusterId::new(u32::from(ip), s);
        }
        let value = t
            .parse::<u32>()
            .map_err(|_| ParseIdError::ClusterId(s.to_owned()))?;
        ClusterId::new(value, s)
    }
}

impl Serialize for ClusterId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClusterId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => ClusterId::new(n, &n.to_string()).map_err(serde::de::Error::custom),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The unicast address families rrd configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &std::net::IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        })
    }
}

/// Where a session password lives (a Kubernetes Secret name and key, or the
/// same pair in a file source).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub name: String,
    pub key: String,
}

/// A secret value. `Debug` and `Display` never show it; only engines that
/// must write it into a daemon's configuration call [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_accepts_dotted_quad_and_integer() {
        assert_eq!(
            "1.0.0.1".parse::<ClusterId>().unwrap().to_string(),
            "1.0.0.1"
        );
        assert_eq!(
            "16777217".parse::<ClusterId>().unwrap().to_string(),
            "1.0.0.1"
        );
        assert!("1.0.0".parse::<ClusterId>().is_err());
        assert!("abc".parse::<ClusterId>().is_err());
    }

    #[test]
    fn cluster_id_zero_is_refused_in_every_form_naming_the_value() {
        for text in ["0", "0.0.0.0", " 0.0.0.0 "] {
            let err = text.parse::<ClusterId>().unwrap_err();
            assert_eq!(err, ParseIdError::ZeroClusterId(text.to_owned()));
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
        let err = serde_json::from_str::<ClusterId>("0").unwrap_err();
        assert!(
            err.to_string().contains("\"0\" is not a usable cluster id"),
            "{err}"
        );
        let err = serde_json::from_str::<ClusterId>("\"0.0.0.0\"").unwrap_err();
        assert!(err.to_string().contains("0.0.0.0"), "{err}");
    }

    #[test]
    fn asn_accepts_plain_and_asdot_and_refuses_garbage() {
        assert_eq!("65100".parse::<Asn>().unwrap(), Asn(65100));
        assert_eq!("1.10".parse::<Asn>().unwrap(), Asn(65546));
        assert!("abc".parse::<Asn>().is_err());
        assert!("0".parse::<Asn>().is_err());
        assert!("4294967296".parse::<Asn>().is_err());
    }

    #[test]
    fn asn_deserializes_from_number_or_string() {
        let a: Asn = serde_json::from_str("65100").unwrap();
        let b: Asn = serde_json::from_str("\"65100\"").unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<Asn>("\"x\"").is_err());
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
    }
}
