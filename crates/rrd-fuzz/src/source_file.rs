//! The file source's topology file ([`rrd_source_file::parse`]), TOML or
//! YAML by extension.
//!
//! Input: one byte choosing the syntax (even: TOML, odd: YAML), then the
//! file. Checked: a TOML file that loads, converted to YAML, loads to the
//! same topology (the two syntaxes describe one format).

use std::path::Path;

pub fn run(data: &[u8]) {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if choice % 2 == 1 {
        if let Err(e) = rrd_source_file::parse(Path::new("topology.yaml"), text) {
            let _ = e.to_string();
        }
        return;
    }
    let topology = match rrd_source_file::parse(Path::new("topology.toml"), text) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let value: toml::Value = toml::from_str(text).expect("the file parsed as TOML once");
    let yaml = serde_yaml::to_string(&value).expect("a TOML value serializes as YAML");
    let again = rrd_source_file::parse(Path::new("topology.yaml"), &yaml)
        .unwrap_or_else(|e| panic!("the TOML file loads but not as YAML: {e}\n{yaml}"));
    assert_eq!(again, topology, "TOML and YAML differ for\n{yaml}");
}
