//! One Calico v3 resource as JSON ([`rrd_layouts::calico_v3::decode_object`]),
//! as the etcd v3 and Kubernetes sources read them.
//!
//! Checked: an object that decodes gives the same change through the
//! YAML stream decoder (JSON is YAML; the file source reads that path),
//! whenever that decoder reads the text without error.

use rrd_layouts::calico_v3::{decode_changes, decode_object};
use serde_json::Value;

pub fn run(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match decode_object(&value) {
        Err(e) => {
            let _ = e.to_string();
        }
        Ok(decoded) => {
            let text = serde_json::to_string(&value).expect("a JSON value serializes");
            let (changes, errors) = decode_changes(&text);
            if errors.is_empty() {
                assert_eq!(
                    changes,
                    vec![decoded.into_change()],
                    "the JSON and the YAML decoders disagree on {text}"
                );
            }
        }
    }
}
