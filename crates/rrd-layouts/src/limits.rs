//! Bounds on text a source decodes (topology files, Calico v3 YAML
//! streams): how big, and how deeply nested.
//!
//! YAML's flow collections (`[[[[...]]]]`) cost the parser time in the
//! square of their depth: 200 KB nested 100,000 levels took 35 s of CPU.
//! Nothing rrd reads nests deeper than a handful of levels, so the text is
//! scanned first (linear, no allocation) and refused past
//! [`MAX_NESTING_DEPTH`], before any parser sees it.

/// Largest text accepted (64 MiB: a 100,000-node topology is about 10 MB).
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Deepest nesting of brackets and braces accepted. Topologies nest about
/// six levels; TOML and JSON parsers stop at about a hundred anyway.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Why a text was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputLimitError {
    #[error("{bytes} bytes is more than the {limit} bytes rrd reads")]
    TooLarge { bytes: u64, limit: u64 },
    #[error(
        "nested more than {limit} levels deep at line {line}; rrd reads at most {limit} levels"
    )]
    TooDeep { line: usize, limit: usize },
}

/// Refuse a text longer than `MAX_INPUT_BYTES`.
pub fn check_size(bytes: u64) -> Result<(), InputLimitError> {
    if bytes > MAX_INPUT_BYTES {
        return Err(InputLimitError::TooLarge {
            bytes,
            limit: MAX_INPUT_BYTES,
        });
    }
    Ok(())
}

/// Refuse a TOML, YAML or JSON text that is too large or nests brackets
/// and braces deeper than [`MAX_NESTING_DEPTH`]. Quoted strings and
/// comments do not count: a quote opens a string only where a token starts,
/// as in YAML and TOML.
pub fn check_text(text: &str) -> Result<(), InputLimitError> {
    check_size(text.len() as u64)?;
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    let mut comment = false;
    let mut previous = b'\n';
    for &byte in text.as_bytes() {
        if byte == b'\n' {
            line += 1;
            comment = false;
        }
        if comment {
            previous = byte;
            continue;
        }
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if q == b'"' && byte == b'\\' {
                    escaped = true;
                } else if byte == q {
                    quote = None;
                }
            }
            None => {
                // After a closed quote too: TOML's `"""` and `'''`.
                let token_start = matches!(
                    previous,
                    b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',' | b':' | b'=' | b'"' | b'\''
                );
                match byte {
                    b'"' | b'\'' if token_start => quote = Some(byte),
                    b'#' if token_start => comment = true,
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > MAX_NESTING_DEPTH {
                            return Err(InputLimitError::TooDeep {
                                line,
                                limit: MAX_NESTING_DEPTH,
                            });
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        previous = byte;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("nodes: {}{}\n", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_is_refused_with_its_line() {
        assert_eq!(check_text(&nested(MAX_NESTING_DEPTH)), Ok(()));
        let deeper = format!("a: 1\n{}", nested(MAX_NESTING_DEPTH + 1));
        assert_eq!(
            check_text(&deeper),
            Err(InputLimitError::TooDeep {
                line: 2,
                limit: MAX_NESTING_DEPTH
            })
        );
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count_but_cannot_hide_nesting() {
        let deep = "[".repeat(200);
        for text in [
            format!("a: \"{deep}\"\n"),
            format!("a: '{deep}'\n"),
            format!("a = \"\"\"{deep}\"\"\"\n"),
            format!("# {deep}\nb: 1\n"),
            format!("a: \"x\\\"{deep}\"\n"),
        ] {
            assert_eq!(check_text(&text), Ok(()), "{text}");
        }
        // A quote inside a word opens no string; closing brackets inside
        // strings do not cancel opening ones outside.
        let sneaky = format!("a: it's {}\n", "[".repeat(MAX_NESTING_DEPTH + 1));
        assert!(check_text(&sneaky).is_err());
        let sneaky = "[ \"]\" ".repeat(MAX_NESTING_DEPTH + 1);
        assert!(check_text(&sneaky).is_err());
    }

    #[test]
    fn size_is_bounded() {
        assert_eq!(check_size(MAX_INPUT_BYTES), Ok(()));
        let e = check_size(MAX_INPUT_BYTES + 1).unwrap_err();
        assert!(e.to_string().contains("67108864 bytes"), "{e}");
    }

    #[test]
    fn a_hundred_thousand_levels_are_refused_at_once() {
        assert_eq!(
            check_text(&nested(100_000)),
            Err(InputLimitError::TooDeep {
                line: 1,
                limit: MAX_NESTING_DEPTH
            })
        );
    }
}
