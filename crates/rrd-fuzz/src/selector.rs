//! Calico label selectors ([`rrd_core::semantics::calico_v3::Selector`]),
//! as BGPPeer `nodeSelector` / `peerSelector` carry them.
//!
//! Checked: a selector that parses keeps its text; `!(s)` parses and
//! selects exactly the nodes `s` does not; `(s) && all()` selects exactly
//! what `s` does. Evaluated against label sets made from the selector's
//! own words and strings, so that both outcomes occur.

use std::collections::BTreeMap;

use rrd_core::semantics::calico_v3::Selector;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let selector = match Selector::parse(text) {
        Ok(s) => s,
        Err(e) => {
            assert!(e.offset <= text.len(), "error offset past the end: {e}");
            return;
        }
    };
    assert_eq!(selector.as_str(), text);
    if text.trim().is_empty() {
        return;
    }
    let (negated, grouped) = match (
        Selector::parse(&format!("!({text})")),
        Selector::parse(&format!("({text}) && all()")),
    ) {
        (Ok(n), Ok(g)) => (n, g),
        // One more level of parentheses than the parser allows.
        (Err(e), _) | (_, Err(e)) if e.message.contains("nested deeper") => return,
        (Err(e), _) | (_, Err(e)) => panic!("{text:?} parses but not in parentheses: {e}"),
    };
    for labels in label_sets(text).into_iter().map(rrd_core::Labels::from) {
        let selected = selector.matches(&labels);
        assert_eq!(
            negated.matches(&labels),
            !selected,
            "!({text}) on {labels:?}"
        );
        assert_eq!(grouped.matches(&labels), selected, "({text}) on {labels:?}");
    }
}

/// No labels; every word of the selector set to each of its first quoted
/// strings; each word alone set to the first string.
fn label_sets(text: &str) -> Vec<BTreeMap<String, String>> {
    let is_label = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let words: Vec<&str> = text
        .split(|c: char| !is_label(c))
        .filter(|w| !w.is_empty())
        .take(16)
        .collect();
    let mut strings: Vec<&str> = text.split(['\'', '"']).skip(1).step_by(2).take(4).collect();
    strings.push("");
    let mut sets = vec![BTreeMap::new()];
    for s in &strings {
        sets.push(
            words
                .iter()
                .map(|w| ((*w).to_owned(), (*s).to_owned()))
                .collect(),
        );
    }
    for w in &words {
        sets.push(BTreeMap::from([((*w).to_owned(), strings[0].to_owned())]));
    }
    sets
}
