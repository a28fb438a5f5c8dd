//! A fast, exact path for the Hugging Face tokenizers agents' models ship: no normalizer or NFC,
//! a `Sequence` of regex `Split`s (behavior `Isolated`) or a GPT-2 `ByteLevel` with its regex,
//! byte-level mapping, and BPE — DeepSeek V3/V4, Qwen2/3, Llama 3, gpt-oss style files.
//!
//! The reference pipeline spends most of its time tracking offsets through normalization and
//! pre-tokenization on a backtracking regex engine; counting needs neither. This path splits with
//! `split::SplitStage`, maps bytes, and asks the tokenizer's own BPE model for each distinct
//! pre-token once (`pieces`). A text containing any added token, and every tokenizer whose
//! configuration is not recognized, goes through the reference `encode` instead, so results
//! are the reference results; the test suite compares both on every message of the corpora.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Deserialize;
use serde_json::Value;
use tokenizers::{Model, NormalizedString, Normalizer};

use super::pieces;
use super::split::SplitStage;

/// The regex GPT-2's `ByteLevel` pre-tokenizer splits with when `use_regex` is true.
const BYTE_LEVEL_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// GPT-2's byte-to-character table: printable bytes map to themselves, the rest to U+0100 on.
static BYTE_CHARS: LazyLock<[char; 256]> = LazyLock::new(|| {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for byte in 0..=255u8 {
        table[byte as usize] = if printable(byte) {
            char::from(byte)
        } else {
            let mapped = char::from_u32(next).unwrap_or('\u{fffd}');
            next += 1;
            mapped
        };
    }
    table
});

/// The parts of a `tokenizer.json` the fast path depends on.
#[derive(Deserialize)]
struct Configuration {
    #[serde(default)]
    normalizer: Value,
    #[serde(default)]
    pre_tokenizer: Value,
    model: ModelConfiguration,
}

#[derive(Deserialize)]
struct ModelConfiguration {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    dropout: Value,
}

/// The recognized fast pipeline of one tokenizer.
pub struct FastPipeline {
    added_tokens: AhoCorasick,
    nfc: bool,
    stages: Vec<SplitStage>,
    namespace: u64,
}

impl FastPipeline {
    /// Recognizes the tokenizer's configuration from its `tokenizer.json` bytes; `None` when
    /// this path cannot reproduce it exactly. Only the small configuration objects are parsed:
    /// the vocabulary and merges are skipped.
    pub fn recognize(json: &[u8], tokenizer: &tokenizers::Tokenizer) -> Option<FastPipeline> {
        let config: Configuration = serde_json::from_slice(json).ok()?;
        let nfc = match &config.normalizer {
            Value::Null => false,
            normalizer => match normalizer.get("type").and_then(Value::as_str) {
                Some("NFC") => true,
                Some("Sequence")
                    if normalizer
                        .get("normalizers")
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty) =>
                {
                    false
                }
                _ => return None,
            },
        };
        if config.model.kind.as_deref() != Some("BPE") || !config.model.dropout.is_null() {
            return None;
        }
        let stages = stages(&config.pre_tokenizer)?;
        let contents: Vec<String> = tokenizer
            .get_added_tokens_decoder()
            .into_values()
            .map(|token| token.content)
            .filter(|content| !content.is_empty())
            .collect();
        let added_tokens = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&contents)
            .ok()?;
        Some(FastPipeline {
            added_tokens,
            nfc,
            stages,
            namespace: pieces::new_namespace(),
        })
    }

    /// Appends the ids of `text` to `out`; `Ok(false)` when the text needs the reference
    /// pipeline (it contains an added token).
    pub fn encode(
        &self,
        tokenizer: &tokenizers::Tokenizer,
        text: &str,
        out: &mut Vec<u32>,
    ) -> tokenizers::Result<bool> {
        if self.added_tokens.is_match(text) {
            return Ok(false);
        }
        let normalized;
        let text = if self.nfc && !text.is_ascii() {
            let mut string = NormalizedString::from(text);
            if let Some(normalizer) = tokenizer.get_normalizer() {
                normalizer.normalize(&mut string)?;
            }
            normalized = string.get().to_owned();
            if self.added_tokens.is_match(&normalized) {
                return Ok(false);
            }
            normalized.as_str()
        } else {
            text
        };
        let model = tokenizer.get_model();
        let mut result = Ok(());
        let mut byte_level = String::new();
        self.split(0, text, &mut |piece| {
            if result.is_err() {
                return;
            }
            result = pieces::extend_with(self.namespace, piece, out, |piece| {
                byte_level.clear();
                byte_level.extend(piece.bytes().map(|b| BYTE_CHARS[b as usize]));
                Ok(model
                    .tokenize(&byte_level)?
                    .into_iter()
                    .map(|token| token.id)
                    .collect())
            });
        });
        result.map(|()| true)
    }

    fn split<'t>(&self, stage: usize, text: &'t str, emit: &mut dyn FnMut(&'t str)) {
        match self.stages.get(stage) {
            None => emit(text),
            Some(current) => current.split(text, &mut |piece| self.split(stage + 1, piece, emit)),
        }
    }
}

/// The split stages of a recognized pre-tokenizer configuration.
fn stages(pre_tokenizer: &Value) -> Option<Vec<SplitStage>> {
    let kind = pre_tokenizer.get("type").and_then(Value::as_str)?;
    let flag = |value: &Value, key: &str| value.get(key).and_then(Value::as_bool);
    match kind {
        "ByteLevel" => {
            if flag(pre_tokenizer, "add_prefix_space") != Some(false) {
                return None;
            }
            if flag(pre_tokenizer, "use_regex") == Some(false) {
                Some(Vec::new())
            } else {
                Some(vec![SplitStage::new(BYTE_LEVEL_PATTERN)?])
            }
        }
        "Sequence" => {
            let steps = pre_tokenizer.get("pretokenizers")?.as_array()?;
            let (last, splits) = steps.split_last()?;
            if last.get("type").and_then(Value::as_str) != Some("ByteLevel")
                || flag(last, "add_prefix_space") != Some(false)
                || flag(last, "use_regex") != Some(false)
            {
                return None;
            }
            splits
                .iter()
                .map(|step| {
                    if step.get("type").and_then(Value::as_str) != Some("Split") {
                        return None;
                    }
                    let stage = SplitStage::new(step.get("pattern")?.get("Regex")?.as_str()?)?;
                    match (
                        step.get("behavior").and_then(Value::as_str),
                        flag(step, "invert"),
                    ) {
                        (Some("Isolated"), Some(false)) => Some(stage),
                        // Removing what does not match keeps exactly the matches.
                        (Some("Removed"), Some(true)) => Some(stage.matches_only()),
                        _ => None,
                    }
                })
                .collect()
        }
        _ => None,
    }
}
