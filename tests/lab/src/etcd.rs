//! A real etcd (v2 and v3 APIs) on a lab host, written to with `curl` the
//! way the calico/routereflector README did.

use std::path::PathBuf;
use std::time::Duration;

use crate::lab::{Host, Lab};
use crate::process::Process;
use crate::{bins, poll};

/// etcd serving both APIs on `<host ipv4>:2379`.
#[derive(Debug)]
pub struct EtcdHost {
    process: Option<Process>,
    pub host: Host,
    pub data_dir: PathBuf,
    log: PathBuf,
}

impl EtcdHost {
    pub fn start(lab: &Lab, host: &Host) -> EtcdHost {
        let mut e = EtcdHost {
            process: None,
            host: host.clone(),
            data_dir: lab.path(&format!("{}-etcd-data", host.name)),
            log: lab.path(&format!("{}-etcd.log", host.name)),
        };
        e.resume();
        e
    }

    /// `host:port` of the client API.
    pub fn authority(&self) -> String {
        format!("{}:2379", self.host.ipv4)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.authority())
    }

    /// Stop etcd (SIGTERM, by PID); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// Kill etcd (SIGKILL, by PID) as a crash would; its data stays.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop_with(nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// Start etcd again on the same data.
    pub fn resume(&mut self) {
        let url = self.url();
        let peer = format!("http://{}:2380", self.host.ipv4);
        self.process = Some(self.host.spawn(
            "etcd",
            bins::etcd(),
            &[
                "--name",
                "lab",
                "--data-dir",
                self.data_dir.to_str().unwrap(),
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &format!("lab={peer}"),
                "--enable-v2=true",
            ],
            self.log.clone(),
        ));
        poll::until("etcd healthy", Duration::from_secs(20), || {
            let out = self.curl(&["-sf", &format!("{url}/health")]);
            if out.contains("true") {
                Ok(())
            } else {
                Err(format!(
                    "health: {out}\nlog:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ))
            }
        });
    }

    /// `curl` inside the etcd host's namespace; returns stdout.
    pub fn curl(&self, args: &[&str]) -> String {
        let out = self.host.command("curl").args(args).output().expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `curl -XPUT .../v2/keys/<key> -d value=...` (the seed's own write).
    pub fn put_v2(&self, key: &str, value: &str) {
        let out = self.curl(&[
            "-sS",
            "-L",
            &format!("{}/v2/keys{key}", self.url()),
            "-XPUT",
            "--data-urlencode",
            &format!("value={value}"),
        ]);
        assert!(out.contains("\"action\":\"set\""), "v2 PUT {key}: {out}");
    }

    /// The value of `key` through the v2 API.
    pub fn get_v2(&self, key: &str) -> Option<String> {
        let out = self.curl(&["-sS", &format!("{}/v2/keys{key}", self.url())]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        v["node"]["value"].as_str().map(str::to_owned)
    }

    /// The value of `key` through the v3 JSON gateway.
    pub fn get_v3(&self, key: &str) -> Option<String> {
        let body = format!("{{\"key\":\"{}\"}}", base64(key.as_bytes()));
        let out = self.curl(&[
            "-sS",
            "-XPOST",
            &format!("{}/v3/kv/range", self.url()),
            "-d",
            &body,
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        let encoded = v["kvs"][0]["value"].as_str()?;
        String::from_utf8(unbase64(encoded)).ok()
    }

    pub fn delete_v2(&self, key: &str) {
        self.curl(&[
            "-sS",
            "-XDELETE",
            &format!("{}/v2/keys{key}?recursive=true", self.url()),
        ]);
    }

    /// A v3 put through etcd's JSON gateway.
    pub fn put_v3(&self, key: &str, value: &str) {
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\"}}",
            base64(key.as_bytes()),
            base64(value.as_bytes())
        );
        let out = self.curl(&[
            "-sS",
            "-XPOST",
            &format!("{}/v3/kv/put", self.url()),
            "-d",
            &body,
        ]);
        assert!(out.contains("\"header\""), "v3 put {key}: {out}");
    }

    pub fn delete_v3(&self, key: &str) {
        let body = format!("{{\"key\":\"{}\"}}", base64(key.as_bytes()));
        self.curl(&[
            "-sS",
            "-XPOST",
            &format!("{}/v3/kv/deleterange", self.url()),
            "-d",
            &body,
        ]);
    }
}

impl Drop for EtcdHost {
    fn drop(&mut self) {
        self.stop();
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
            continue;
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_vectors() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        for s in ["", "f", "fo", "foo", "foobar", "{\"ip\":\"198.51.100.10\"}"] {
            assert_eq!(super::unbase64(&super::base64(s.as_bytes())), s.as_bytes());
        }
    }
}
