//! Pre-tokenization by regular expressions, as Hugging Face `Split` (behavior `Isolated`) and
//! tiktoken do it, on the linear-time `regex` engine instead of a backtracking one.
//!
//! Every GPT-style pattern ends with `\s+(?!\S)|\s+`: a run of spaces leaves its last space to the
//! next word. The lookahead needs backtracking, so it is rewritten away: the pattern keeps only
//! the final `\s+`, and a match that is plain whitespace (no line break) followed by more text is
//! shortened by its last character, which is exactly what the lookahead alternative would have
//! matched. Whitespace with a line break is matched earlier by `\s*[\r\n]+`, and the other
//! alternatives need a letter, digit or symbol, so no other match is affected. Patterns this
//! module cannot run exactly are refused (`None`), and the caller falls back to the reference
//! implementation; `tests` compares both on random text.

use regex::Regex;

/// The lookahead idiom at the end of GPT-style patterns.
const WHITESPACE_LOOKAHEAD_SUFFIX: &str = r"|\s+(?!\S)|\s+";

/// One regex splitting stage.
#[derive(Debug, Clone)]
pub struct SplitStage {
    regex: Regex,
    whitespace_lookahead: bool,
    keep_gaps: bool,
}

impl SplitStage {
    /// Compiles `pattern`, rewriting the trailing whitespace lookahead; `None` when the pattern
    /// needs features the `regex` engine lacks.
    pub fn new(pattern: &str) -> Option<SplitStage> {
        let (pattern, whitespace_lookahead) =
            match pattern.strip_suffix(WHITESPACE_LOOKAHEAD_SUFFIX) {
                Some(head) => (format!(r"{head}|\s+"), true),
                None => (pattern.to_owned(), false),
            };
        let regex = Regex::new(&pattern).ok()?;
        Some(SplitStage {
            regex,
            whitespace_lookahead,
            keep_gaps: true,
        })
    }

    /// The same stage keeping only the matches and dropping the text between them (Hugging
    /// Face's `Removed` behavior with `invert: true`).
    #[must_use]
    pub fn matches_only(mut self) -> SplitStage {
        self.keep_gaps = false;
        self
    }

    /// Calls `emit` with every piece of `text`, in order: each match and, unless the stage keeps
    /// matches only, each non-empty gap between matches (Hugging Face's `Isolated` behavior).
    pub fn split<'t>(&self, text: &'t str, emit: &mut dyn FnMut(&'t str)) {
        let mut position = 0;
        let mut last = 0;
        while position < text.len() {
            let Some(found) = self.regex.find_at(text, position) else {
                break;
            };
            let start = found.start();
            let mut end = found.end();
            if end == start {
                // No GPT-style pattern matches the empty string; refuse to loop on one that does.
                position = start + text[start..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            if self.whitespace_lookahead && end < text.len() {
                let matched = &text[start..end];
                if matched
                    .chars()
                    .all(|c| c.is_whitespace() && c != '\r' && c != '\n')
                {
                    let last_char = matched.chars().next_back().map_or(0, char::len_utf8);
                    if matched.len() > last_char {
                        end -= last_char;
                    }
                }
            }
            if start > last && self.keep_gaps {
                emit(&text[last..start]);
            }
            emit(&text[start..end]);
            last = end;
            position = end;
        }
        if last < text.len() && self.keep_gaps {
            emit(&text[last..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const O200K: &str = tiktoken_rs::O200K_BASE_PAT_STR;
    const QWEN3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const DEEPSEEK_V4: &str = r"[!\x22#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// The reference: the same pattern on the backtracking engine Hugging Face and tiktoken use.
    fn reference(regex: &fancy_regex::Regex, text: &str) -> Vec<String> {
        let mut pieces = Vec::new();
        let mut last = 0;
        for found in regex.find_iter(text) {
            let found = found.unwrap();
            if found.start() > last {
                pieces.push(text[last..found.start()].to_owned());
            }
            pieces.push(found.as_str().to_owned());
            last = found.end();
        }
        if last < text.len() {
            pieces.push(text[last..].to_owned());
        }
        pieces
    }

    fn ours(stage: &SplitStage, text: &str) -> Vec<String> {
        let mut pieces = Vec::new();
        stage.split(text, &mut |piece| pieces.push(piece.to_owned()));
        pieces
    }

    /// Random strings over characters that stress every alternative: spaces of several kinds,
    /// line breaks, digits, letters of both cases, marks, punctuation, symbols, CJK, apostrophes.
    #[test]
    fn splits_equal_the_backtracking_reference_on_random_text() {
        let alphabet: Vec<char> =
            " \t\n\r\u{a0}\u{3000}\u{2028}  aZé1٣'sS.,!-/_()\u{301}中かカ€😀\u{200b}x"
                .chars()
                .collect();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % 1024).unwrap()
        };
        for pattern in [O200K, QWEN3, DEEPSEEK_V4] {
            let compiled = SplitStage::new(pattern).unwrap();
            let backtracking = fancy_regex::Regex::new(pattern).unwrap();
            for _ in 0..3000 {
                let length = next() % 24;
                let text: String = (0..length)
                    .map(|_| alphabet[next() % alphabet.len()])
                    .collect();
                assert_eq!(
                    ours(&compiled, &text),
                    reference(&backtracking, &text),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn space_runs_leave_their_last_space_to_the_next_word() {
        let o200k = SplitStage::new(O200K).unwrap();
        assert_eq!(ours(&o200k, "a   b"), ["a", "  ", " b"]);
        assert_eq!(ours(&o200k, "a   "), ["a", "   "]);
        assert_eq!(ours(&o200k, "a \n  b"), ["a", " \n", " ", " b"]);
    }
}
