//! The classic Prometheus text format (`text/plain; version=0.0.4`) from
//! `prometheus-client`'s OpenMetrics output.
//!
//! The registry encodes OpenMetrics only, where a counter family `x` has
//! samples `x_total`. Scrapers that do not ask for OpenMetrics (`curl`,
//! `promtool check metrics`, older Prometheus servers) read the classic
//! format, where the family is named after its samples: `# HELP x_total`,
//! `# TYPE x_total counter`. Everything else (gauges, histograms, label
//! escaping) is written the same way in both; `# EOF` and `# UNIT` lines
//! exist only in OpenMetrics.

/// The classic format's content type.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rewrite an OpenMetrics exposition (as `prometheus-client` writes it)
/// into the classic text format.
pub fn classic(openmetrics: &str) -> String {
    let mut counters = std::collections::BTreeSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_owned());
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match rewritten {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_families_take_their_samples_name_and_eof_goes() {
        let om = "# HELP rrd_x Things.\n# TYPE rrd_x counter\nrrd_x_total 3\n# HELP rrd_g A gauge.\n# TYPE rrd_g gauge\nrrd_g 1\n# EOF\n";
        assert_eq!(
            classic(om),
            "# HELP rrd_x_total Things.\n# TYPE rrd_x_total counter\nrrd_x_total 3\n# HELP rrd_g A gauge.\n# TYPE rrd_g gauge\nrrd_g 1\n"
        );
    }

    #[test]
    fn only_an_openmetrics_accept_header_gets_openmetrics() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }
}
