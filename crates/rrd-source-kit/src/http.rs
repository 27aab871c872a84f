//! The HTTP client of the sources that speak HTTP themselves (etcd's v2
//! API, Consul): reqwest on rustls, the configured CA instead of the
//! system roots when one is given, the client certificate when one is
//! given, keep-alive probes for long polls.

use std::time::Duration;

use crate::error::KitError;
use crate::tls::TlsFiles;

/// Connection settings.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    /// Idle time before TCP keep-alive probes start.
    pub keepalive: Duration,
    /// Probe interval and count: a long poll notices a peer that vanished
    /// without a FIN after `keepalive + interval * retries`.
    pub keepalive_probes: Option<(Duration, u32)>,
    pub pool_idle_timeout: Duration,
}

impl HttpOptions {
    pub fn new(connect_timeout: Duration) -> HttpOptions {
        HttpOptions {
            connect_timeout,
            keepalive: Duration::from_secs(30),
            keepalive_probes: None,
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

/// A client with `tls`'s CA and identity.
pub fn http_client(
    options: &HttpOptions,
    tls: Option<&TlsFiles>,
) -> Result<reqwest::Client, KitError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(options.connect_timeout)
        .tcp_keepalive(Some(options.keepalive))
        .pool_idle_timeout(options.pool_idle_timeout);
    if let Some((interval, retries)) = options.keepalive_probes {
        builder = builder
            .tcp_keepalive_interval(Some(interval))
            .tcp_keepalive_retries(Some(retries));
    }
    if let Some(tls) = tls {
        if let Some(ca) = &tls.ca {
            let cert = reqwest::Certificate::from_pem(ca).map_err(|e| KitError::Tls {
                what: "ca_file",
                source: e.into(),
            })?;
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(cert);
        }
        if let Some(pem) = tls.identity_pem() {
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| KitError::Tls {
                what: "cert_file/key_file",
                source: e.into(),
            })?;
            builder = builder.identity(id);
        }
    }
    builder.build().map_err(|e| KitError::Tls {
        what: "HTTP client",
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_certificate_that_is_not_pem_is_a_tls_error_naming_it() {
        let tls = TlsFiles {
            ca: None,
            identity: Some((b"not a certificate".to_vec(), b"nor a key".to_vec())),
        };
        let e = http_client(&HttpOptions::new(Duration::from_secs(1)), Some(&tls)).unwrap_err();
        assert!(e.to_string().contains("cert_file/key_file"), "{e}");
    }

    #[test]
    fn a_generated_ca_and_identity_build_a_client() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let tls = TlsFiles {
            ca: Some(cert.pem().into_bytes()),
            identity: Some((cert.pem().into_bytes(), key.serialize_pem().into_bytes())),
        };
        http_client(&HttpOptions::new(Duration::from_secs(1)), Some(&tls)).unwrap();
    }
}
