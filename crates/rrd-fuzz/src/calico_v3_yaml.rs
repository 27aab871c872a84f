//! A stream of Calico v3 resources as YAML
//! ([`rrd_layouts::calico_v3::decode_documents`]), as the file source's
//! `calico-v3` layout and `rrd` imports read them.
//!
//! Checked: the objects of the stream, written back as a JSON stream,
//! decode to the same topology (scalars are resolved once, by the YAML
//! 1.1 rules, and must survive being written out).

use rrd_layouts::calico_v3::{decode_documents, parse_objects};
use serde_json::Value;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (topology, errors) = decode_documents(text);
    for e in &errors {
        let _ = e.to_string();
    }
    let (objects, syntax) = parse_objects(text);
    // A list inside a list is an item there, but would be flattened as a
    // document of its own.
    let nested_list = objects.iter().any(|o| {
        o.get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
    });
    if !syntax.is_empty() || nested_list {
        return;
    }
    let json: Vec<String> = objects
        .iter()
        .map(|o| serde_json::to_string(o).expect("a JSON value serializes"))
        .collect();
    let stream = json.join("\n---\n");
    let (again, _) = decode_documents(&stream);
    assert_eq!(
        again, topology,
        "the stream written back as JSON decodes differently: {stream}"
    );
}
