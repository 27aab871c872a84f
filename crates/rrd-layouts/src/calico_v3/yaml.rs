//! YAML documents -> JSON values, with YAML 1.1 scalars as Calico's tools
//! read them.
//!
//! `calicoctl` and `kubectl` parse YAML 1.1 (go-yaml v2 via
//! sigs.k8s.io/yaml): an unquoted `yes`, `on` or `y` is a boolean, and a
//! boolean that lands in a string field (a label) becomes `"true"`. That is
//! why Calico's own test input `route-reflector: yes` is selected by
//! `route-reflector == 'true'`, while `node: "yes"` stays `"yes"`. YAML 1.2
//! parsers (serde_yaml) lose the difference between the two, so this module
//! reads the event stream, where the scalar style is still known, and
//! resolves plain scalars by the 1.1 rules.
//!
//! A syntax error loses only its own document: the stream is then re-read
//! one `---`-separated chunk at a time.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    /// 1-based position in the stream.
    pub index: usize,
    /// 1-based line where the document starts.
    pub line: usize,
    pub value: Value,
}

/// A document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub index: usize,
    pub line: usize,
    pub message: String,
}

/// Read every document of `text`; unreadable documents are returned as
/// errors, the others still come back.
pub(crate) fn load_stream(text: &str) -> (Vec<Document>, Vec<SyntaxError>) {
    match load_chunk(text) {
        Ok(docs) => (
            docs.into_iter()
                .enumerate()
                .map(|(i, (line, value))| Document {
                    index: i + 1,
                    line,
                    value,
                })
                .collect(),
            Vec::new(),
        ),
        Err(_) => load_chunks(text),
    }
}

/// Fallback after a syntax error: each `---`-separated chunk on its own.
fn load_chunks(text: &str) -> (Vec<Document>, Vec<SyntaxError>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut index = 0;
    for (first_line, chunk) in split_documents(text) {
        match load_chunk(&chunk) {
            Ok(values) => {
                for (line, value) in values {
                    index += 1;
                    docs.push(Document {
                        index,
                        line: first_line + line - 1,
                        value,
                    });
                }
            }
            Err((line, message)) => {
                index += 1;
                errors.push(SyntaxError {
                    index,
                    line: first_line + line - 1,
                    message,
                });
            }
        }
    }
    (docs, errors)
}

/// Split at lines that start a document (`---`), keeping the 1-based line
/// each chunk starts on.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_marker && !current.trim().is_empty() {
            chunks.push((start, std::mem::take(&mut current)));
            start = i + 1;
        } else if is_marker {
            current.clear();
            start = i + 1;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        chunks.push((start, current));
    }
    chunks
}

type Loaded = Vec<(usize, Value)>;

fn load_chunk(text: &str) -> Result<Loaded, (usize, String)> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    match parser.load(&mut builder, true) {
        Ok(()) => Ok(builder.docs),
        Err(e) => Err((e.marker().line(), e.info().to_owned())),
    }
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    root: Option<Value>,
    doc_line: usize,
    docs: Loaded,
}

impl Builder {
    fn anchor(&mut self, id: usize, value: &Value) {
        if id > 0 {
            self.anchors.insert(id, value.clone());
        }
    }

    fn push(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, key, _)) => match key.take() {
                None => *key = Some(key_text(value)),
                Some(k) => {
                    map.insert(k, value);
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::DocumentStart => {
                self.root = None;
                self.doc_line = mark.line();
            }
            Event::DocumentEnd => {
                let value = self.root.take().unwrap_or(Value::Null);
                self.docs.push((self.doc_line, value));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_ref());
                self.anchor(anchor, &value);
                self.push(value);
            }
            Event::Alias(id) => {
                let value = self.anchors.get(&id).cloned().unwrap_or(Value::Null);
                self.push(value);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Map::new(), None, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, anchor)) => (Value::Array(items), anchor),
                    Some(Frame::Map(map, _, anchor)) => (Value::Object(map), anchor),
                    None => return,
                };
                self.anchor(anchor, &value);
                self.push(value);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

/// Mapping keys become text the way sigs.k8s.io/yaml writes them.
fn key_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// YAML 1.1 resolution of a scalar: quoted and block scalars are strings,
/// plain ones may be null, booleans or numbers.
pub(crate) fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str") {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false)
        }
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Value::Number(n);
    }
    if let Some(n) = parse_float(text) {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

/// YAML 1.1 integers: decimal, `0b`, `0x`, leading-`0` octal, `_` as
/// separator, optional sign. Out of range stays text.
fn parse_int(text: &str) -> Option<Number> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let digits: String = body.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || body.starts_with('_') {
        return None;
    }
    let (radix, digits) = if let Some(d) = digits.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = digits.strip_prefix("0x") {
        (16, d)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude).ok()?;
        Some(Number::from(-value))
    } else {
        Some(Number::from(magnitude))
    }
}

/// `[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?`; infinities
/// and NaN have no JSON form and stay text.
fn parse_float(text: &str) -> Option<Number> {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits_ok = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    let mantissa_ok = match frac_part {
        Some(f) if int_part.is_empty() => !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()),
        Some(f) => {
            int_part.starts_with(|c: char| c.is_ascii_digit())
                && digits_ok(int_part)
                && digits_ok(f)
        }
        None => false, // an integer without '.' was not an int: not a float either
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    cleaned.parse::<f64>().ok().and_then(Number::from_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let (docs, errors) = load_stream(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.into_iter().next().unwrap().value
    }

    #[test]
    fn unquoted_yes_is_a_boolean_but_quoted_yes_is_text() {
        let v = one("a: yes\nb: \"yes\"\nc: 'on'\nd: off\ne: y\n");
        assert_eq!(
            v,
            json!({"a": true, "b": "yes", "c": "on", "d": false, "e": true})
        );
    }

    #[test]
    fn numbers_nulls_and_addresses_resolve_like_yaml_1_1() {
        let v = one("a: 64512\nb: 10.192.0.2/16\nc: 10.0.0.1\nd: 1.5\ne: ~\nf:\ng: 0x10\nh: 010\ni: -3\nj: 1_000\nk: fe0a::2\nl: .inf\n");
        assert_eq!(
            v,
            json!({"a": 64512, "b": "10.192.0.2/16", "c": "10.0.0.1", "d": 1.5, "e": null,
                   "f": null, "g": 16, "h": 8, "i": -3, "j": 1000, "k": "fe0a::2", "l": ".inf"})
        );
    }

    #[test]
    fn block_and_flow_collections_anchors_and_tags_load() {
        let v =
            one("base: &b {x: 1}\nlist: [a, 'b']\ncopy: *b\nforced: !!str 123\nblock: |\n  yes\n");
        assert_eq!(
            v,
            json!({"base": {"x": 1}, "list": ["a", "b"], "copy": {"x": 1},
                   "forced": "123", "block": "yes\n"})
        );
    }

    #[test]
    fn multi_document_streams_keep_order_and_lines() {
        let (docs, errors) = load_stream("a: 1\n---\n# comment\nb: 2\n---\n");
        assert!(errors.is_empty());
        let values: Vec<_> = docs.iter().map(|d| d.value.clone()).collect();
        assert_eq!(values[..2], [json!({"a": 1}), json!({"b": 2})]);
        assert_eq!(docs[1].index, 2);
        assert_eq!(docs[0].line, 1);
    }

    #[test]
    fn a_syntax_error_loses_only_its_own_document() {
        let (docs, errors) = load_stream("a: 1\n---\nb: [1, 2\n---\nc: 3\n");
        let values: Vec<_> = docs.iter().map(|d| d.value.clone()).collect();
        assert_eq!(values, [json!({"a": 1}), json!({"c": 3})]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].index, 2);
        assert!(errors[0].line >= 3, "{errors:?}");
    }

    #[test]
    fn json_text_is_read_as_yaml() {
        let v =
            one(r#"{"kind": "BGPPeer", "spec": {"asNumber": 64512, "keep": true, "s": "yes"}}"#);
        assert_eq!(
            v["spec"],
            json!({"asNumber": 64512, "keep": true, "s": "yes"})
        );
    }
}
