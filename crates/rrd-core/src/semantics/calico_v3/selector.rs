//! Calico's label selector language, as BGPPeer `nodeSelector` and
//! `peerSelector` use it: parse once, evaluate against a node's labels.
//!
//! Grammar (lowest precedence first), as libcalico-go accepts it:
//!
//! ```text
//! or   := and ("||" and)*
//! and  := op ("&&" op)*
//! op   := "!"* ( "all()" | "global()" | "has(" label ")" | "(" or ")"
//!              | label ("==" | "!=" | "contains" | "starts with" | "ends with") string
//!              | label ("in" | "not in") "{" [string ("," string)* [","]] "}" )
//! label  := [A-Za-z0-9_./-]{1,512}
//! string := '...' | "..."          (no escapes)
//! ```
//!
//! An empty selector means `all()`. `k != 'v'` and `k not in {..}` match
//! nodes that lack `k`, like Calico. Errors carry the byte offset of the
//! offending token so an operator can find it in a long expression.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::model::Labels;

/// Longest label name Calico accepts.
const MAX_LABEL_LEN: usize = 512;

/// Deepest nesting of parentheses: each level recurses, and a selector
/// comes from the datastore. Real selectors nest a few levels.
const MAX_DEPTH: usize = 64;

/// Why a selector was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector {selector:?}: {message} at offset {offset}")]
pub struct SelectorError {
    pub selector: String,
    /// Byte offset into `selector` where the problem starts.
    pub offset: usize,
    pub message: String,
}

/// A parsed selector. Equality compares the source text.
#[derive(Clone, Debug)]
pub struct Selector {
    source: String,
    root: Expr,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Selector {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    All,
    Has(String),
    Eq(String, String),
    Ne(String, String),
    Contains(String, String),
    StartsWith(String, String),
    EndsWith(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    fn eval(&self, labels: &Labels) -> bool {
        let get = |k: &String| labels.get(k);
        match self {
            Expr::All => true,
            Expr::Has(k) => labels.contains_key(k),
            Expr::Eq(k, v) => get(k) == Some(v.as_str()),
            Expr::Ne(k, v) => get(k) != Some(v.as_str()),
            Expr::Contains(k, v) => get(k).is_some_and(|l| l.contains(v.as_str())),
            Expr::StartsWith(k, v) => get(k).is_some_and(|l| l.starts_with(v.as_str())),
            Expr::EndsWith(k, v) => get(k).is_some_and(|l| l.ends_with(v.as_str())),
            Expr::In(k, set) => get(k).is_some_and(|l| set.contains(l)),
            Expr::NotIn(k, set) => get(k).is_none_or(|l| !set.contains(l)),
            Expr::Not(e) => !e.eval(labels),
            Expr::And(es) => es.iter().all(|e| e.eval(labels)),
            Expr::Or(es) => es.iter().any(|e| e.eval(labels)),
        }
    }
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let tokens = tokenize(text).map_err(|(offset, message)| SelectorError {
            selector: text.to_owned(),
            offset,
            message,
        })?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let root = if parser.peek().kind == Kind::Eof {
            Expr::All
        } else {
            let root = parser.or_expr();
            let root = root.and_then(|root| match parser.peek() {
                t if t.kind == Kind::Eof => Ok(root),
                t => Err((
                    t.offset,
                    format!("unexpected {} after the expression", t.kind),
                )),
            });
            root.map_err(|(offset, message)| SelectorError {
                selector: text.to_owned(),
                offset,
                message,
            })?
        };
        Ok(Selector {
            source: text.to_owned(),
            root,
        })
    }

    /// Whether a node with these labels is selected.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.root.eval(labels)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Label,
    Str,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Eq,
    Ne,
    Not,
    And,
    Or,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    All,
    Global,
    Has,
    Eof,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Label => "a label",
            Kind::Str => "a string",
            Kind::LParen => "'('",
            Kind::RParen => "')'",
            Kind::LBrace => "'{'",
            Kind::RBrace => "'}'",
            Kind::Comma => "','",
            Kind::Eq => "'=='",
            Kind::Ne => "'!='",
            Kind::Not => "'!'",
            Kind::And => "'&&'",
            Kind::Or => "'||'",
            Kind::In => "'in'",
            Kind::NotIn => "'not in'",
            Kind::Contains => "'contains'",
            Kind::StartsWith => "'starts with'",
            Kind::EndsWith => "'ends with'",
            Kind::All => "'all()'",
            Kind::Global => "'global()'",
            Kind::Has => "'has(..)'",
            Kind::Eof => "the end",
        })
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    /// Label name, string value or `has(..)` argument.
    text: String,
    offset: usize,
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

/// Length of the label starting at `rest[0]`, or an error.
fn label_len(rest: &[u8], offset: usize) -> Result<usize, (usize, String)> {
    let len = rest.iter().take_while(|b| is_label_byte(**b)).count();
    if len == 0 {
        return Err((offset, "expected a label name".into()));
    }
    if len > MAX_LABEL_LEN {
        return Err((
            offset,
            format!("label name longer than {MAX_LABEL_LEN} characters"),
        ));
    }
    Ok(len)
}

/// `word` at the start of `rest`, followed by a word boundary.
fn starts_with_word(rest: &[u8], word: &str) -> bool {
    rest.starts_with(word.as_bytes()) && rest.get(word.len()).is_none_or(|b| !is_label_byte(*b))
}

/// Words separated by blanks (`not in`, `starts with`); returns the length
/// consumed. Like Calico, `notin` is accepted as well.
fn multi_word(rest: &[u8], words: &[&str]) -> Option<usize> {
    let mut at = 0;
    for (i, word) in words.iter().enumerate() {
        if !rest[at..].starts_with(word.as_bytes()) {
            return None;
        }
        at += word.len();
        if i + 1 < words.len() {
            at += rest[at..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        }
    }
    rest.get(at)
        .is_none_or(|b| !is_label_byte(*b))
        .then_some(at)
}

fn tokenize(input: &str) -> Result<Vec<Token>, (usize, String)> {
    let bytes = input.as_bytes();
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    let push = |tokens: &mut Vec<Token>, kind, text: &str, offset| {
        tokens.push(Token {
            kind,
            text: text.to_owned(),
            offset,
        })
    };
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == bytes.len() {
            push(&mut tokens, Kind::Eof, "", i);
            return Ok(tokens);
        }
        let start = i;
        let rest = &bytes[i..];
        let after_label = tokens.last().is_some_and(|t| t.kind == Kind::Label);
        match rest[0] {
            b'(' | b')' | b'{' | b'}' | b',' => {
                let kind = match rest[0] {
                    b'(' => Kind::LParen,
                    b')' => Kind::RParen,
                    b'{' => Kind::LBrace,
                    b'}' => Kind::RBrace,
                    _ => Kind::Comma,
                };
                push(&mut tokens, kind, "", start);
                i += 1;
            }
            quote @ (b'"' | b'\'') => {
                let Some(len) = rest[1..].iter().position(|b| *b == quote) else {
                    return Err((start, "unterminated string".into()));
                };
                push(&mut tokens, Kind::Str, &input[i + 1..i + 1 + len], start);
                i += len + 2;
            }
            b'=' if rest.starts_with(b"==") => {
                push(&mut tokens, Kind::Eq, "", start);
                i += 2;
            }
            b'=' => {
                return Err((
                    start,
                    "expected '==' (a single '=' is not an operator)".into(),
                ))
            }
            b'!' if rest.starts_with(b"!=") => {
                push(&mut tokens, Kind::Ne, "", start);
                i += 2;
            }
            b'!' => {
                push(&mut tokens, Kind::Not, "", start);
                i += 1;
            }
            b'&' if rest.starts_with(b"&&") => {
                push(&mut tokens, Kind::And, "", start);
                i += 2;
            }
            b'&' => return Err((start, "expected '&&'".into())),
            b'|' if rest.starts_with(b"||") => {
                push(&mut tokens, Kind::Or, "", start);
                i += 2;
            }
            b'|' => return Err((start, "expected '||'".into())),
            _ if after_label => {
                let (kind, len) = if starts_with_word(rest, "contains") {
                    (Kind::Contains, "contains".len())
                } else if let Some(len) = multi_word(rest, &["starts", "with"]) {
                    (Kind::StartsWith, len)
                } else if let Some(len) = multi_word(rest, &["ends", "with"]) {
                    (Kind::EndsWith, len)
                } else if let Some(len) = multi_word(rest, &["not", "in"]) {
                    (Kind::NotIn, len)
                } else if starts_with_word(rest, "in") {
                    (Kind::In, 2)
                } else {
                    let label = &tokens.last().map(|t| t.text.clone()).unwrap_or_default();
                    return Err((start, format!("expected an operator after label {label:?}")));
                };
                push(&mut tokens, kind, "", start);
                i += len;
            }
            _ if rest.starts_with(b"has(") => {
                i += 4;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                let len = label_len(&bytes[i..], i)?;
                let name = &input[i..i + len];
                i += len;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) != Some(&b')') {
                    return Err((i, "expected ')' to close has(".into()));
                }
                i += 1;
                push(&mut tokens, Kind::Has, name, start);
            }
            _ if rest.starts_with(b"all(") || rest.starts_with(b"global(") => {
                let (kind, word) = if rest[0] == b'a' {
                    (Kind::All, "all(")
                } else {
                    (Kind::Global, "global(")
                };
                i += word.len();
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) != Some(&b')') {
                    return Err((i, format!("expected ')' to close {word}")));
                }
                i += 1;
                push(&mut tokens, kind, "", start);
            }
            _ => {
                let len = label_len(rest, start)?;
                push(&mut tokens, Kind::Label, &input[i..i + len], start);
                i += len;
            }
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Parentheses open around the current position.
    depth: usize,
}

type ParseResult<T> = Result<T, (usize, String)>;

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof, and nothing advances past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != Kind::Eof {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, kind: Kind) -> ParseResult<Token> {
        let t = self.next();
        if t.kind == kind {
            Ok(t)
        } else {
            Err((t.offset, format!("expected {kind}, found {}", t.kind)))
        }
    }

    fn or_expr(&mut self) -> ParseResult<Expr> {
        let mut terms = vec![self.and_expr()?];
        while self.peek().kind == Kind::Or {
            self.next();
            terms.push(self.and_expr()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and_expr(&mut self) -> ParseResult<Expr> {
        let mut terms = vec![self.operation()?];
        while self.peek().kind == Kind::And {
            self.next();
            terms.push(self.operation()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn operation(&mut self) -> ParseResult<Expr> {
        let mut negated = false;
        while self.peek().kind == Kind::Not {
            self.next();
            negated = !negated;
        }
        let t = self.next();
        let expr = match t.kind {
            Kind::All | Kind::Global => Expr::All,
            Kind::Has => Expr::Has(t.text),
            Kind::LParen => {
                if self.depth == MAX_DEPTH {
                    return Err((
                        t.offset,
                        format!("parentheses nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                self.depth += 1;
                let inner = self.or_expr()?;
                self.depth -= 1;
                self.expect(Kind::RParen)?;
                inner
            }
            Kind::Label => self.comparison(t.text)?,
            other => {
                return Err((
                    t.offset,
                    format!("expected a label, has(..), all() or '(', found {other}"),
                ))
            }
        };
        Ok(if negated {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }

    fn comparison(&mut self, label: String) -> ParseResult<Expr> {
        let op = self.next();
        match op.kind {
            Kind::Eq | Kind::Ne | Kind::Contains | Kind::StartsWith | Kind::EndsWith => {
                let value = self.expect(Kind::Str)?.text;
                Ok(match op.kind {
                    Kind::Eq => Expr::Eq(label, value),
                    Kind::Ne => Expr::Ne(label, value),
                    Kind::Contains => Expr::Contains(label, value),
                    Kind::StartsWith => Expr::StartsWith(label, value),
                    _ => Expr::EndsWith(label, value),
                })
            }
            Kind::In | Kind::NotIn => {
                self.expect(Kind::LBrace)?;
                let mut set = BTreeSet::new();
                while self.peek().kind == Kind::Str {
                    set.insert(self.next().text);
                    if self.peek().kind != Kind::Comma {
                        break;
                    }
                    self.next();
                }
                self.expect(Kind::RBrace)?;
                Ok(if op.kind == Kind::In {
                    Expr::In(label, set)
                } else {
                    Expr::NotIn(label, set)
                })
            }
            other => Err((
                op.offset,
                format!("expected an operator after label {label:?}, found {other}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().copied().collect()
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn all_and_the_empty_selector_match_every_node() {
        assert!(sel("all()").matches(&labels(&[])));
        assert!(sel("  ").matches(&labels(&[("a", "b")])));
        assert!(sel("global()").matches(&labels(&[])));
        assert!(sel("all( )").matches(&labels(&[])));
    }

    #[test]
    fn has_and_not_has_test_presence_only() {
        let rr = labels(&[("routeReflector", "true")]);
        assert!(sel("has(routeReflector)").matches(&rr));
        assert!(!sel("has(routeReflector)").matches(&labels(&[])));
        assert!(!sel("!has(routeReflector)").matches(&rr));
        assert!(sel("!has( routeReflector )").matches(&labels(&[])));
        assert!(sel("has(ttl-security-node)").matches(&labels(&[("ttl-security-node", "x")])));
    }

    #[test]
    fn equality_accepts_single_and_double_quotes() {
        let n = labels(&[("route-reflector", "true")]);
        assert!(sel("route-reflector == 'true'").matches(&n));
        assert!(sel("route-reflector==\"true\"").matches(&n));
        assert!(!sel("route-reflector == 'yes'").matches(&n));
        assert!(sel("group=='one'").matches(&labels(&[("group", "one")])));
    }

    #[test]
    fn inequality_and_not_in_match_nodes_without_the_label() {
        assert!(sel("zone != 'a'").matches(&labels(&[])));
        assert!(sel("zone != 'a'").matches(&labels(&[("zone", "b")])));
        assert!(!sel("zone != 'a'").matches(&labels(&[("zone", "a")])));
        assert!(sel("zone not in {'a','b'}").matches(&labels(&[])));
        assert!(!sel("zone not in {'a','b'}").matches(&labels(&[("zone", "b")])));
        assert!(sel("zone notin {'a'}").matches(&labels(&[("zone", "c")])));
    }

    #[test]
    fn set_membership_requires_the_label() {
        let n = labels(&[("rack", "r2")]);
        assert!(sel("rack in {'r1', \"r2\"}").matches(&n));
        assert!(!sel("rack in {'r1'}").matches(&n));
        assert!(!sel("rack in {'r2'}").matches(&labels(&[])));
        assert!(!sel("rack in {}").matches(&n));
        assert!(sel("rack in {'r2',}").matches(&n));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let n = labels(&[("a", "1")]);
        // a || (b && c)
        assert!(sel("a == '1' || b == '1' && c == '1'").matches(&n));
        // (a || b) && c
        assert!(!sel("(a == '1' || b == '1') && c == '1'").matches(&n));
        assert!(sel("!(has(b) || has(c)) && has(a)").matches(&n));
    }

    #[test]
    fn repeated_negation_cancels_out() {
        let n = labels(&[("a", "1")]);
        assert!(sel("!!has(a)").matches(&n));
        assert!(!sel("!a == '1'").matches(&n));
    }

    #[test]
    fn string_operators_match_substrings() {
        let n = labels(&[("host", "rack1-node7")]);
        assert!(sel("host contains 'node'").matches(&n));
        assert!(sel("host starts with 'rack1'").matches(&n));
        assert!(sel("host ends  with 'node7'").matches(&n));
        assert!(!sel("host starts with 'node'").matches(&n));
    }

    #[test]
    fn label_names_may_hold_dots_slashes_and_dashes() {
        let n = labels(&[("kubernetes.io/hostname", "n-1")]);
        assert!(sel("kubernetes.io/hostname == 'n-1'").matches(&n));
    }

    #[test]
    fn errors_give_the_offset_of_the_bad_token() {
        let e = Selector::parse("has(a) && b = 'x'").unwrap_err();
        assert_eq!(e.offset, 12);
        assert!(e.message.contains("=="), "{e}");
        let e = Selector::parse("a == 'x").unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(e.message.contains("unterminated"));
        let e = Selector::parse("has(a").unwrap_err();
        assert!(e.message.contains("')'"), "{e}");
        let e = Selector::parse("(has(a)").unwrap_err();
        assert_eq!(e.offset, 7);
        let e = Selector::parse("a == b").unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(e.to_string().contains("\"a == b\""), "{e}");
    }

    #[test]
    fn trailing_garbage_and_dangling_operators_are_refused() {
        for bad in [
            "has(a) has(b)",
            "has(a) &&",
            "|| has(a)",
            "a",
            "a in 'x'",
            "a in {'x' 'y'}",
            "has (a)",
            "a & b",
            ")",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn deep_nesting_is_refused_instead_of_overflowing_the_stack() {
        // Shown by the fuzz target `selector` (fuzz/): every `(` recursed,
        // so a long enough selector in a BGPPeer crashed rrd.
        let deep = format!("{}all(){}", "(".repeat(100_000), ")".repeat(100_000));
        let e = Selector::parse(&deep).unwrap_err();
        assert!(e.message.contains("nested"), "{e}");
        let fine = format!("{}has(a){}", "(".repeat(32), ")".repeat(32));
        assert!(sel(&fine).matches(&labels(&[("a", "1")])));
    }

    #[test]
    fn selectors_compare_by_source_text() {
        assert_eq!(sel("has(a)"), sel("has(a)"));
        assert_ne!(sel("has(a)"), sel("has( a )"));
        assert_eq!(sel("has(a)").to_string(), "has(a)");
    }
}
