//! rrd's configuration file ([`rrd::config::Config::parse`]), exactly as
//! `rrd check` and `rrd run` load it.
//!
//! Input: the TOML text, then optionally a NUL byte and
//! `RRD_<SECTION>__<KEY>=value` lines (environment overrides). Checked: a
//! refused file names at least one problem, each printable; an accepted
//! one passes its own validation and loads the same way twice.

use rrd::config::{error_lines, Config};

pub fn run(data: &[u8]) {
    let (toml_part, env_part) = crate::split_nul(data);
    let (Ok(text), Ok(env)) = (
        std::str::from_utf8(toml_part),
        std::str::from_utf8(env_part),
    ) else {
        return;
    };
    let vars: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    match Config::parse(text, "rrd.toml", &vars) {
        Err(e) => {
            assert!(!e.problems.is_empty(), "refused without a problem");
            let _ = error_lines(&e.into());
        }
        Ok(config) => {
            assert_eq!(config.validate(), Vec::<(String, String)>::new());
            let again = Config::parse(text, "rrd.toml", &vars).expect("loaded once");
            assert!(config.sections_needing_restart(&again).is_empty());
        }
    }
}
