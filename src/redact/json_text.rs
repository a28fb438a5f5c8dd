//! Redacting inside JSON texts without re-serializing them.
//!
//! Several columns hold JSON as text with the values' original bytes (`fields_json`,
//! `metadata_json`, tool sets, tool-call arguments). Parsing and re-serializing would change
//! number formatting and escapes outside the secrets, so this module finds each string literal,
//! decodes it while remembering where every decoded character came from, lets the caller find
//! spans in the decoded text, and maps those spans back to byte ranges of the original text. A
//! decoded string that is itself a JSON object or array (tool-call arguments inside a message's
//! `tool_calls`) is walked the same way, so a secret is seen as the same decoded value whether it
//! sits in `turns.output_tool_calls` or in the message's `fields_json`.

use std::ops::Range;

/// String-in-string nesting followed at most; deeper literals are treated as plain text.
const MAX_DEPTH: usize = 8;

/// A byte range of a text to replace, with the caller's tag for what replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// The caller's tag (a placeholder index).
    pub tag: u32,
}

/// Whether a text is a JSON object or array (the only JSON worth walking into).
fn is_json_container(text: &str) -> bool {
    let trimmed = text.trim_start();
    (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Spans of `text` to replace. With `json`, a text that is valid JSON is walked literal by
/// literal (keys included) and `leaf` sees each decoded string; otherwise `leaf` sees the whole
/// text. `leaf` returns spans of the text it was given, sorted and disjoint; the result is sorted
/// and disjoint too.
pub fn spans(text: &str, json: bool, leaf: &mut dyn FnMut(&str) -> Vec<Span>) -> Vec<Span> {
    if json && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        walk(text, 0, leaf)
    } else {
        leaf(text)
    }
}

fn walk(text: &str, depth: usize, leaf: &mut dyn FnMut(&str) -> Vec<Span>) -> Vec<Span> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut position = 0;
    while let Some(offset) = memchr::memchr(b'"', &bytes[position..]) {
        let open = position + offset;
        let Some(literal) = decode_literal(text, open + 1) else {
            // Not reachable for text serde_json accepted; stop rather than guess.
            break;
        };
        let inner = if depth < MAX_DEPTH && is_json_container(&literal.decoded) {
            walk(&literal.decoded, depth + 1, leaf)
        } else {
            leaf(&literal.decoded)
        };
        for span in inner {
            let (Some(&start), Some(&end)) =
                (literal.origin.get(span.start), literal.origin.get(span.end))
            else {
                continue;
            };
            if start < end {
                out.push(Span {
                    start,
                    end,
                    tag: span.tag,
                });
            }
        }
        position = literal.close + 1;
    }
    out
}

struct Literal {
    decoded: String,
    /// For every byte offset of `decoded` that starts a character (and its end), the byte offset
    /// of `text` where that character's encoding starts (or the closing quote); other entries are
    /// unused.
    origin: Vec<usize>,
    /// Byte offset of the closing quote.
    close: usize,
}

/// Decodes the string literal whose content starts at `start` (just after the opening quote).
fn decode_literal(text: &str, start: usize) -> Option<Literal> {
    let bytes = text.as_bytes();
    let mut decoded = String::new();
    let mut origin = Vec::new();
    let mut index = start;
    let push = |decoded: &mut String, origin: &mut Vec<usize>, character: char, from: usize| {
        let before = decoded.len();
        decoded.push(character);
        origin.resize(decoded.len(), from);
        origin[before] = from;
    };
    loop {
        let byte = *bytes.get(index)?;
        match byte {
            b'"' => {
                origin.push(index);
                return Some(Literal {
                    decoded,
                    origin,
                    close: index,
                });
            }
            b'\\' => {
                let escape = *bytes.get(index + 1)?;
                let simple = match escape {
                    b'"' => Some('"'),
                    b'\\' => Some('\\'),
                    b'/' => Some('/'),
                    b'b' => Some('\u{8}'),
                    b'f' => Some('\u{c}'),
                    b'n' => Some('\n'),
                    b'r' => Some('\r'),
                    b't' => Some('\t'),
                    b'u' => None,
                    _ => return None,
                };
                if let Some(character) = simple {
                    push(&mut decoded, &mut origin, character, index);
                    index += 2;
                    continue;
                }
                let (character, length) = decode_unicode_escape(bytes, index)?;
                push(&mut decoded, &mut origin, character, index);
                index += length;
            }
            _ => {
                let character = text.get(index..)?.chars().next()?;
                push(&mut decoded, &mut origin, character, index);
                index += character.len_utf8();
            }
        }
    }
}

/// Decodes `\uXXXX` at `index` (a surrogate pair takes two escapes); a lone surrogate becomes
/// U+FFFD, as lossy decoders do. Returns the character and the escape's length in bytes.
fn decode_unicode_escape(bytes: &[u8], index: usize) -> Option<(char, usize)> {
    let unit = |at: usize| -> Option<u32> {
        let digits = bytes.get(at + 2..at + 6)?;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let first = unit(index)?;
    if (0xD800..0xDC00).contains(&first)
        && bytes.get(index + 6) == Some(&b'\\')
        && bytes.get(index + 7) == Some(&b'u')
        && let Some(second) = unit(index + 6)
        && (0xDC00..0xE000).contains(&second)
    {
        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        return Some((char::from_u32(code)?, 12));
    }
    Some((char::from_u32(first).unwrap_or('\u{FFFD}'), 6))
}

/// `text` with each span replaced by `replacement(span.tag)`; spans are sorted and disjoint.
pub fn splice(text: &str, spans: &[Span], replacement: &dyn Fn(u32) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut position = 0;
    for span in spans {
        let range: Range<usize> = span.start..span.end;
        if range.start < position || text.get(range.clone()).is_none() {
            continue;
        }
        out.push_str(&text[position..range.start]);
        out.push_str(&replacement(span.tag));
        position = range.end;
    }
    out.push_str(&text[position..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find_all(needle: &'static str) -> impl FnMut(&str) -> Vec<Span> {
        move |leaf: &str| {
            leaf.match_indices(needle)
                .map(|(start, found)| Span {
                    start,
                    end: start + found.len(),
                    tag: 0,
                })
                .collect()
        }
    }

    fn redact(text: &str, needle: &'static str) -> String {
        let spans = spans(text, true, &mut find_all(needle));
        splice(text, &spans, &|_| "X".to_owned())
    }

    #[test]
    fn escapes_and_numbers_outside_the_secret_keep_their_bytes() {
        let text = r#"{"a": 1.50e3, "b": "caf\u00e9 SECRET \/ok", "c": ["SECRET"]}"#;
        assert_eq!(
            redact(text, "SECRET"),
            r#"{"a": 1.50e3, "b": "caf\u00e9 X \/ok", "c": ["X"]}"#
        );
    }

    #[test]
    fn a_secret_written_with_escapes_is_replaced_whole() {
        let text = r#"{"k": "x S\u0045CRET y"}"#;
        assert_eq!(redact(text, "SECRET"), r#"{"k": "x X y"}"#);
    }

    #[test]
    fn nested_json_in_a_string_is_walked() {
        let text = r#"{"arguments": "{\"command\": \"echo SECRET\"}"}"#;
        assert_eq!(
            redact(text, "SECRET"),
            r#"{"arguments": "{\"command\": \"echo X\"}"}"#
        );
    }

    #[test]
    fn invalid_json_is_plain_text() {
        assert_eq!(redact("{\"a\": SECRET", "SECRET"), "{\"a\": X");
    }

    #[test]
    fn surrogate_pairs_map_to_their_escapes() {
        let text = r#"["\ud83d\ude00SECRET\ud83d"]"#;
        assert_eq!(redact(text, "SECRET"), r#"["\ud83d\ude00X\ud83d"]"#);
    }
}
