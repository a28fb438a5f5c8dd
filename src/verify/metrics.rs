//! Per-turn agreement between two outputs of the same teacher-forced turn, and the absolute
//! checks of one output (truncated, empty, invalid tool arguments, leaked special tokens).
//!
//! Every agreement metric is on a 0–1 scale, higher = more alike, and symmetric in its two
//! outputs, so that candidate↔reference and reference↔reference agreements are exchangeable
//! when the candidate serves the reference's output distribution (verification.md §5.2). An
//! output is prepared once ([`Prepared`]: canonical text, character n-grams, word hashes) and
//! compared with every other output of its turn.

use aho_corasick::AhoCorasick;
use serde_json::Value;

use super::bash;
use super::chrf::{self, CharNgrams};
use super::input::Output;
use super::lcs::{self, TokenMasks, Vocabulary};
use super::tools::ToolSet;
use crate::replay::record::TokenLogprob;

/// The agreement metrics, in report order: the gateable ones first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Both outputs call tools, or neither does (K2-Vendor-Verifier's trigger).
    TriggerAgree,
    /// Tool calls alike: names as a multiset, arguments as canonical JSON with partial credit.
    ToolStruct,
    /// chrF (sacrebleu defaults, both directions averaged) on the canonical serialization.
    TextChrf,
    /// The canonical serializations are equal.
    Exact,
    /// Longest common prefix of the canonical serializations, over the longer one's length.
    LcpFrac,
    /// Diff ratio over word tokens, 2·LCS / (|a| + |b|) (`similar`'s `diff_ratio` of a minimal
    /// diff; computed bit-parallel, see `lcs`).
    EditRatio,
    /// ROUGE-L F1 over `rouge-score`'s tokens (lowercased ASCII alphanumeric runs, no stemmer).
    RougeL,
    /// Output tokens, shorter over longer.
    LengthAgreement,
    /// The MLCommons bash-action rule: the normalized executables of `bash` tool calls, multiset
    /// intersection over union (see `bash`).
    BashIou,
}

/// How many metrics there are.
pub const METRIC_COUNT: usize = 9;

impl Metric {
    /// Every metric, report order.
    pub const ALL: [Metric; METRIC_COUNT] = [
        Metric::TriggerAgree,
        Metric::ToolStruct,
        Metric::TextChrf,
        Metric::Exact,
        Metric::LcpFrac,
        Metric::EditRatio,
        Metric::RougeL,
        Metric::LengthAgreement,
        Metric::BashIou,
    ];

    /// Identifier used in profiles and reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::TriggerAgree => "trigger_agree",
            Metric::ToolStruct => "tool_struct",
            Metric::TextChrf => "text_chrf",
            Metric::Exact => "exact",
            Metric::LcpFrac => "lcp_frac",
            Metric::EditRatio => "edit_ratio",
            Metric::RougeL => "rouge_l",
            Metric::LengthAgreement => "length_agreement",
            Metric::BashIou => "bash_iou",
        }
    }

    /// The metric with this identifier.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|metric| metric.name() == name)
    }

    /// Position in [`Metric::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// What it measures, for reports.
    pub fn definition(self) -> &'static str {
        match self {
            Metric::TriggerAgree => "1 when both outputs call tools or neither does",
            Metric::ToolStruct => {
                "1 when tool names match as a multiset and arguments are equal as canonical JSON; \
                 else mean over the union of calls of per-key argument similarity (chrF for \
                 strings); scored on turns where any run calls a tool (a pair where neither \
                 does scores 1)"
            }
            Metric::TextChrf => {
                "chrF (sacrebleu: char order 6, word order 0, beta 2, whitespace removed), mean of \
                 both directions, /100, on reasoning + content + canonical tool calls"
            }
            Metric::Exact => "1 when the canonical serializations are equal (trimmed)",
            Metric::LcpFrac => {
                "longest common prefix in characters / the longer serialization's characters"
            }
            Metric::EditRatio => {
                "diff ratio over word tokens, 2*LCS/(|a|+|b|) (similar's diff_ratio of a minimal diff)"
            }
            Metric::RougeL => {
                "ROUGE-L F1 over lowercased alphanumeric tokens (no stemmer): 2*LCS/(|a|+|b|)"
            }
            Metric::LengthAgreement => "min/max of the two output-token counts",
            Metric::BashIou => {
                "MLCommons' inline-scorer rule: executables of bash tool calls (wrappers, env \
                 assignments, paths and versions stripped, aliases merged), multiset \
                 intersection over union; scored where either output runs one"
            }
        }
    }
}

/// Largest token sequences compared; longer ones are cut (the LCS is O(N·M/64)).
pub const MAX_DIFF_TOKENS: usize = 20_000;

/// Canonical JSON: object keys sorted, numbers by value (`1.0` and `1` are the same), no
/// whitespace. Two argument objects are equal exactly when their canonical texts are.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|left, right| left.0.cmp(right.0));
            out.push('{');
            for (position, (key, item)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Number(number) => out.push_str(&canonical_number(number)),
        other => out.push_str(&other.to_string()),
    }
}

fn canonical_number(number: &serde_json::Number) -> String {
    if let Some(integer) = number.as_i64() {
        return integer.to_string();
    }
    if let Some(integer) = number.as_u64() {
        return integer.to_string();
    }
    match number.as_f64() {
        // Integral floats within f64's exact range print as integers, so 1.0 == 1.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "only integral values below 2^53 are converted"
        )]
        Some(float) if float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0 => {
            (float as i64).to_string()
        }
        Some(float) => format!("{float:?}"),
        None => number.to_string(),
    }
}

/// A tool call made comparable.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalCall {
    /// Function name.
    pub name: String,
    /// The arguments parsed (`None` when they are not valid JSON).
    pub arguments: Option<Value>,
    /// Canonical JSON of the arguments, or the raw text when invalid.
    pub canonical: String,
}

impl CanonicalCall {
    fn new(name: &str, arguments: &str) -> CanonicalCall {
        let parsed: Option<Value> = if arguments.trim().is_empty() {
            Some(Value::Object(serde_json::Map::new()))
        } else {
            serde_json::from_str(arguments).ok()
        };
        let canonical = parsed
            .as_ref()
            .map_or_else(|| arguments.to_owned(), canonical_json);
        CanonicalCall {
            name: name.to_owned(),
            arguments: parsed,
            canonical,
        }
    }
}

/// One output, prepared for comparison.
#[derive(Debug, Clone)]
pub struct Prepared<'output> {
    /// The output.
    pub output: &'output Output,
    /// Canonical serialization: reasoning, content and canonical tool calls, newline-separated.
    pub text: String,
    /// `text` trimmed, for exact match.
    text_trimmed_len: (usize, usize),
    /// Characters of `text`.
    pub char_count: usize,
    /// Word tokens (ids in the turn's vocabulary).
    words: Vec<u32>,
    word_masks: TokenMasks,
    /// ROUGE tokens (ids in the turn's ROUGE vocabulary).
    rouge_tokens: Vec<u32>,
    rouge_masks: TokenMasks,
    /// Whether it calls a tool (tool calls, or a `tool_calls` finish).
    pub trigger: bool,
    /// Its tool calls, canonical, sorted by (name, arguments).
    pub calls: Vec<CanonicalCall>,
    /// The normalized executables its `bash` calls run, sorted (`bash::actions`).
    pub bash_actions: Vec<&'static str>,
}

/// Canonical serialization of an output (what chrF, exact match and the diffs see).
pub fn canonical_text(output: &Output, calls: &[CanonicalCall]) -> String {
    let mut text = String::with_capacity(output.reasoning.len() + output.content.len() + 2);
    text.push_str(&output.reasoning);
    text.push('\n');
    text.push_str(&output.content);
    if !calls.is_empty() {
        text.push('\n');
        text.push('[');
        for (position, call) in calls.iter().enumerate() {
            if position > 0 {
                text.push(',');
            }
            text.push_str("{\"arguments\":");
            match &call.arguments {
                Some(_) => text.push_str(&call.canonical),
                None => text.push_str(&Value::String(call.canonical.clone()).to_string()),
            }
            text.push_str(",\"name\":");
            text.push_str(&Value::String(call.name.clone()).to_string());
            text.push('}');
        }
        text.push(']');
    }
    text
}

fn hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// Word tokens as `similar`'s word diff splits: runs of alphanumerics, runs of whitespace, and
/// single other characters.
pub fn word_tokens(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    for_each_word_token(text, |token| tokens.push(token));
    tokens
}

#[derive(PartialEq, Clone, Copy)]
enum Class {
    Word,
    Space,
    Other,
}

/// Calls `visit` with each of `text`'s word tokens ([`word_tokens`]), without collecting them.
fn for_each_word_token<'text>(text: &'text str, visit: impl FnMut(&'text str)) {
    if text.is_ascii() {
        for_each_ascii_word_token(text, visit);
    } else {
        for_each_unicode_word_token(text, visit);
    }
}

/// [`for_each_word_token`] of an ASCII text, byte by byte: ASCII's alphanumerics and whitespace
/// are Unicode's, and most outputs are ASCII.
fn for_each_ascii_word_token<'text>(text: &'text str, mut visit: impl FnMut(&'text str)) {
    let class = |byte: u8| {
        if byte.is_ascii_alphanumeric() || byte == b'_' {
            Class::Word
        } else if matches!(byte, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
            Class::Space
        } else {
            Class::Other
        }
    };
    let bytes = text.as_bytes();
    let mut start = 0;
    for at in 1..bytes.len() {
        let (previous, this) = (class(bytes[at - 1]), class(bytes[at]));
        if previous != this || this == Class::Other {
            visit(&text[start..at]);
            start = at;
        }
    }
    if start < text.len() {
        visit(&text[start..]);
    }
}

/// [`for_each_word_token`] of any text, character by character.
fn for_each_unicode_word_token<'text>(text: &'text str, mut visit: impl FnMut(&'text str)) {
    let class = |character: char| {
        if character.is_alphanumeric() || character == '_' {
            Class::Word
        } else if character.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut start = 0;
    let mut current: Option<Class> = None;
    for (at, character) in text.char_indices() {
        let this = class(character);
        if let Some(previous) = current
            && (previous != this || this == Class::Other)
        {
            visit(&text[start..at]);
            start = at;
        }
        current = Some(this);
    }
    if start < text.len() {
        visit(&text[start..]);
    }
}

fn rouge_tokens(text: &str) -> Vec<u64> {
    // rouge-score's tokenizer: lowercase, then runs of ASCII letters and digits. Runs without
    // capitals, most of them, are hashed in place; the rest go through one reused buffer.
    let mut tokens = Vec::with_capacity(text.len() / 4);
    let mut buffer: Vec<u8> = Vec::with_capacity(32);
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_alphanumeric() {
            at += 1;
            continue;
        }
        let start = at;
        let mut capitals = false;
        while at < bytes.len() && bytes[at].is_ascii_alphanumeric() {
            capitals |= bytes[at].is_ascii_uppercase();
            at += 1;
        }
        let run = &bytes[start..at];
        if capitals {
            buffer.clear();
            buffer.extend(run.iter().map(u8::to_ascii_lowercase));
            tokens.push(xxhash_rust::xxh3::xxh3_64(&buffer));
        } else {
            tokens.push(xxhash_rust::xxh3::xxh3_64(run));
        }
    }
    tokens
}

/// Prepares the outputs of one turn, which are all compared with each other: their tokens share
/// one vocabulary, so the LCS finds a token's positions by index.
pub fn prepare_turn<'output>(outputs: &[&'output Output]) -> Vec<Prepared<'output>> {
    let mut vocabularies = [Vocabulary::default(), Vocabulary::default()];
    let mut prepared: Vec<Prepared> = outputs
        .iter()
        .map(|output| Prepared::unmasked(output, &mut vocabularies))
        .collect();
    for item in &mut prepared {
        item.mask(&vocabularies);
    }
    prepared
}

impl<'output> Prepared<'output> {
    /// Prepares one output on its own.
    pub fn new(output: &'output Output) -> Prepared<'output> {
        let mut vocabularies = [Vocabulary::default(), Vocabulary::default()];
        let mut prepared = Prepared::unmasked(output, &mut vocabularies);
        prepared.mask(&vocabularies);
        prepared
    }

    /// Everything but the token masks, which need the whole turn's vocabularies (words, ROUGE).
    fn unmasked(output: &'output Output, vocabularies: &mut [Vocabulary; 2]) -> Prepared<'output> {
        let mut calls: Vec<CanonicalCall> = output
            .tool_calls
            .iter()
            .map(|call| CanonicalCall::new(&call.name, &call.arguments))
            .collect();
        calls.sort_by(|left, right| {
            (&left.name, &left.canonical).cmp(&(&right.name, &right.canonical))
        });
        let text = canonical_text(output, &calls);
        let trimmed = text.trim();
        let start = text.len() - text.trim_start().len();
        let text_trimmed_len = (start, start + trimmed.len());
        let mut words: Vec<u64> = Vec::with_capacity(text.len() / 3);
        for_each_word_token(&text, |token| {
            if words.len() < MAX_DIFF_TOKENS {
                words.push(hash(token));
            }
        });
        let mut rouge = rouge_tokens(&text);
        rouge.truncate(MAX_DIFF_TOKENS);
        let [word_vocabulary, rouge_vocabulary] = vocabularies;
        Prepared {
            output,
            char_count: text.chars().count(),
            words: word_vocabulary.intern(&words),
            word_masks: TokenMasks::default(),
            rouge_tokens: rouge_vocabulary.intern(&rouge),
            rouge_masks: TokenMasks::default(),
            trigger: !calls.is_empty() || output.finish_reason.as_deref() == Some("tool_calls"),
            bash_actions: bash::actions(
                calls
                    .iter()
                    .map(|call| (call.name.as_str(), call.arguments.as_ref())),
            ),
            calls,
            text_trimmed_len,
            text,
        }
    }

    fn mask(&mut self, [words, rouge]: &[Vocabulary; 2]) {
        self.word_masks = TokenMasks::new(&self.words, words.len());
        self.rouge_masks = TokenMasks::new(&self.rouge_tokens, rouge.len());
    }

    fn trimmed(&self) -> &str {
        &self.text[self.text_trimmed_len.0..self.text_trimmed_len.1]
    }
}

/// Options of a comparison.
#[derive(Debug, Clone, Copy)]
pub struct PairOptions {
    /// Largest logprob gap (nats) of a near tie.
    pub near_tie_gap: f64,
    /// Whether a divergence at a near tie counts as agreement for `exact` and `lcp_frac`.
    pub near_tie_tolerated: bool,
}

/// The agreement of two outputs of one turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairScores {
    /// Per metric (index = `Metric::index`); `None` when undefined for this pair.
    pub values: [Option<f64>; METRIC_COUNT],
    /// Character index of the first difference of the canonical serializations.
    pub first_divergence: Option<usize>,
    /// Whether the first differing token was a near tie (both sides carry logprobs).
    pub near_tie: Option<bool>,
}

/// Similarity of two JSON values of one argument key.
fn value_similarity(first: &Value, second: &Value) -> f64 {
    match (first, second) {
        (Value::String(left), Value::String(right)) => {
            if left == right {
                1.0
            } else {
                chrf::symmetric(&CharNgrams::new(left), &CharNgrams::new(right))
            }
        }
        _ => f64::from(u8::from(canonical_json(first) == canonical_json(second))),
    }
}

/// Similarity of two calls' arguments: mean over the union of keys.
#[allow(clippy::cast_precision_loss, reason = "key counts are tiny")]
fn arguments_similarity(first: &CanonicalCall, second: &CanonicalCall) -> f64 {
    if first.canonical == second.canonical {
        return 1.0;
    }
    match (&first.arguments, &second.arguments) {
        (Some(Value::Object(left)), Some(Value::Object(right))) => {
            let mut keys: Vec<&String> = left.keys().chain(right.keys()).collect();
            keys.sort();
            keys.dedup();
            if keys.is_empty() {
                return 1.0;
            }
            let total: f64 = keys
                .iter()
                .map(|key| match (left.get(*key), right.get(*key)) {
                    (Some(left), Some(right)) => value_similarity(left, right),
                    _ => 0.0,
                })
                .sum();
            total / keys.len() as f64
        }
        (Some(left), Some(right)) => value_similarity(left, right),
        _ => 0.0,
    }
}

/// Tool-call structure agreement; `None` when neither side calls a tool.
#[allow(clippy::cast_precision_loss, reason = "call counts are tiny")]
pub fn tool_struct(first: &[CanonicalCall], second: &[CanonicalCall]) -> Option<f64> {
    if first.is_empty() && second.is_empty() {
        return None;
    }
    if first.is_empty() || second.is_empty() {
        return Some(0.0);
    }
    if first.len() == second.len()
        && first
            .iter()
            .zip(second)
            .all(|(left, right)| left.name == right.name && left.canonical == right.canonical)
    {
        return Some(1.0);
    }
    // Each call of `first`, in order, takes the most similar unused call of `second` with the
    // same name (the first of equals); what is left unpaired on either side scores 0.
    let mut used = vec![false; second.len()];
    let mut total = 0.0;
    let mut pairs = 0;
    for call in first {
        let best = second
            .iter()
            .enumerate()
            .filter(|(index, other)| !used[*index] && other.name == call.name)
            .map(|(index, other)| (index, arguments_similarity(call, other)))
            .fold(
                None,
                |best: Option<(usize, f64)>, (index, score)| match best {
                    Some((_, best_score)) if best_score >= score => best,
                    _ => Some((index, score)),
                },
            );
        if let Some((index, score)) = best {
            used[index] = true;
            total += score;
            pairs += 1;
        }
    }
    let union = first.len() + second.len() - pairs;
    Some(total / union as f64)
}

/// vLLM's near-tie rule at the first differing token: each side's token is among the other
/// side's alternatives, and each side's chosen token beats the other's by at most `gap` nats.
/// `None` when the token sequences are equal.
pub fn near_tie(first: &[TokenLogprob], second: &[TokenLogprob], gap: f64) -> Option<bool> {
    let diverge = first
        .iter()
        .zip(second)
        .position(|(left, right)| left.token != right.token);
    let Some(at) = diverge else {
        return (first.len() != second.len()).then_some(false);
    };
    let side = |chosen: &TokenLogprob, other: &str| {
        chosen
            .top_logprobs
            .iter()
            .find(|alternative| alternative.token == other)
            .is_some_and(|alternative| {
                let difference = chosen.logprob - alternative.logprob;
                (-1e-5..=gap + 1e-5).contains(&difference)
            })
    };
    Some(side(&first[at], &second[at].token) && side(&second[at], &first[at].token))
}

/// Compares two prepared outputs of one turn. `text_chrf` is their symmetric chrF
/// (`chrf::symmetric` of the texts), counted for all of a turn's pairs at once by the caller
/// (`chrf::symmetric_pairs`).
#[allow(clippy::cast_precision_loss, reason = "lengths are far below 2^52")]
pub fn compare(
    first: &Prepared,
    second: &Prepared,
    text_chrf: f64,
    options: PairOptions,
) -> PairScores {
    let mut values = [None; METRIC_COUNT];
    values[Metric::TriggerAgree.index()] =
        Some(f64::from(u8::from(first.trigger == second.trigger)));
    values[Metric::ToolStruct.index()] = tool_struct(&first.calls, &second.calls);
    let same = first.text == second.text;
    // Identical outputs agree fully, even empty ones (where sacrebleu's chrF is 0).
    values[Metric::TextChrf.index()] = Some(if same { 1.0 } else { text_chrf });
    let lcp = first
        .text
        .chars()
        .zip(second.text.chars())
        .take_while(|(left, right)| left == right)
        .count();
    let longest = first.char_count.max(second.char_count);
    let first_divergence = (!same).then_some(lcp);
    let near_tie = match (&first.output.logprobs, &second.output.logprobs) {
        (Some(left), Some(right)) => near_tie(left, right, options.near_tie_gap),
        _ => None,
    };
    let tolerated = options.near_tie_tolerated && near_tie == Some(true);
    let exact = first.trimmed() == second.trimmed();
    values[Metric::Exact.index()] = Some(f64::from(u8::from(exact || tolerated)));
    values[Metric::LcpFrac.index()] = Some(if longest == 0 || tolerated {
        1.0
    } else {
        lcp as f64 / longest as f64
    });
    values[Metric::EditRatio.index()] = Some(lcs::ratio(&first.word_masks, &second.words));
    values[Metric::RougeL.index()] = Some(lcs::ratio(&first.rouge_masks, &second.rouge_tokens));
    values[Metric::LengthAgreement.index()] =
        match (first.output.output_tokens, second.output.output_tokens) {
            (Some(0), Some(0)) => Some(1.0),
            (Some(left), Some(right)) => Some(left.min(right) as f64 / left.max(right) as f64),
            _ => None,
        };
    values[Metric::BashIou.index()] = bash::iou(&first.bash_actions, &second.bash_actions);
    PairScores {
        values,
        first_divergence,
        near_tie,
    }
}

/// The absolute checks of one output (guardrails compare their rates across runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "five independent checks, each read by name"
)]
pub struct OutputFlags {
    /// Stopped at `max_tokens` (`finish_reason` `length`).
    pub truncated: bool,
    /// No content, no reasoning, no tool call.
    pub empty: bool,
    /// A tool call's arguments are not a JSON object.
    pub invalid_arguments: bool,
    /// A tool call names a tool the request did not offer, or its arguments break the tool's
    /// parameters schema (checked only where the dataset has the request's tools).
    pub schema_violation: bool,
    /// A special token (end of sequence, chat-template marker) appears in the text.
    pub special_token: bool,
}

/// Finds special tokens in text.
#[derive(Debug, Clone)]
pub struct SpecialTokens {
    matcher: Option<AhoCorasick>,
}

impl SpecialTokens {
    /// A finder for these token strings.
    pub fn new(tokens: &[String]) -> SpecialTokens {
        let tokens: Vec<&String> = tokens.iter().filter(|token| !token.is_empty()).collect();
        SpecialTokens {
            matcher: if tokens.is_empty() {
                None
            } else {
                AhoCorasick::new(tokens).ok()
            },
        }
    }

    fn found_in(&self, text: &str) -> bool {
        self.matcher
            .as_ref()
            .is_some_and(|matcher| matcher.is_match(text))
    }
}

/// The absolute checks of one prepared output (its tool calls' arguments as already parsed);
/// `tools` are the tools its request offered, when the dataset has them.
pub fn flags(prepared: &Prepared, special: &SpecialTokens, tools: Option<&ToolSet>) -> OutputFlags {
    let output = prepared.output;
    let mut invalid_arguments = false;
    let mut schema_violation = false;
    for call in &prepared.calls {
        invalid_arguments |= !matches!(call.arguments, Some(Value::Object(_)));
        schema_violation |=
            tools.is_some_and(|tools| tools.violated_by(&call.name, call.arguments.as_ref()));
    }
    OutputFlags {
        truncated: output.finish_reason.as_deref() == Some("length"),
        empty: output.content.trim().is_empty()
            && output.reasoning.trim().is_empty()
            && output.tool_calls.is_empty(),
        invalid_arguments,
        schema_violation,
        special_token: special.found_in(&output.content) || special.found_in(&output.reasoning),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::input::ToolCall;

    fn output(content: &str, calls: &[(&str, &str)]) -> Output {
        Output {
            content: content.to_owned(),
            tool_calls: calls
                .iter()
                .map(|(name, arguments)| ToolCall {
                    name: (*name).to_owned(),
                    arguments: (*arguments).to_owned(),
                })
                .collect(),
            ..Output::default()
        }
    }

    const OPTIONS: PairOptions = PairOptions {
        near_tie_gap: 0.25,
        near_tie_tolerated: false,
    };

    #[test]
    fn ascii_word_tokens_equal_unicode_word_tokens() {
        let alphabet = b"ab_1 \t\n\r\x0b\x0c\x1c.-{}\"\x00";
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..2000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for _ in 0..state % 40 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(char::from(
                    alphabet[usize::try_from(state % 17).unwrap_or(0)],
                ));
            }
            let (mut ascii, mut unicode) = (Vec::new(), Vec::new());
            for_each_ascii_word_token(&text, |token| ascii.push(token));
            for_each_unicode_word_token(&text, |token| unicode.push(token));
            assert_eq!(ascii, unicode, "{text:?}");
            assert_eq!(ascii.concat(), text);
        }
    }

    #[test]
    fn rouge_tokens_are_lowercased_alphanumeric_runs() {
        let naive = |text: &str| -> Vec<u64> {
            text.to_ascii_lowercase()
                .split(|character: char| !character.is_ascii_alphanumeric())
                .filter(|token| !token.is_empty())
                .map(|token| xxhash_rust::xxh3::xxh3_64(token.as_bytes()))
                .collect()
        };
        for text in [
            "",
            "The cat, the CAT; tHe 42cats",
            "a-b_c  D9 é É x",
            "ABC",
            "...x",
        ] {
            assert_eq!(rouge_tokens(text), naive(text), "{text:?}");
        }
        let first = output("The cat sat", &[]);
        let second = output("the cat sat down", &[]);
        let prepared = prepare_turn(&[&first, &second]);
        let scores = compare(&prepared[0], &prepared[1], 0.5, OPTIONS);
        let rouge = scores.values[Metric::RougeL.index()].unwrap_or_default();
        assert!((rouge - 6.0 / 7.0).abs() < 1e-12, "{rouge}");
    }

    #[test]
    fn canonical_json_sorts_keys_and_normalizes_numbers() {
        let value: Value =
            serde_json::from_str(r#"{"b": 1.0, "a": [2, {"d": 1, "c": 0.5}]}"#).unwrap_or_default();
        assert_eq!(canonical_json(&value), r#"{"a":[2,{"c":0.5,"d":1}],"b":1}"#);
    }

    #[test]
    fn tool_struct_gives_full_partial_and_no_credit() {
        let call = |name: &str, arguments: &str| CanonicalCall::new(name, arguments);
        let same = tool_struct(
            &[call("bash", r#"{"cmd":"ls","n":1}"#)],
            &[call("bash", r#"{"n":1.0, "cmd":"ls"}"#)],
        );
        assert_eq!(same, Some(1.0));
        let partial = tool_struct(
            &[call("bash", r#"{"cmd":"ls -la","n":1}"#)],
            &[call("bash", r#"{"cmd":"ls -l","n":2}"#)],
        )
        .unwrap_or_default();
        assert!(partial > 0.2 && partial < 0.5, "{partial}");
        assert_eq!(
            tool_struct(&[call("bash", "{}")], &[call("edit", "{}")]),
            Some(0.0)
        );
        assert_eq!(tool_struct(&[], &[]), None);
        assert_eq!(tool_struct(&[call("bash", "{}")], &[]), Some(0.0));
    }

    #[test]
    fn compare_scores_identical_outputs_as_full_agreement() {
        let first = output("hello world", &[("bash", r#"{"cmd":"ls"}"#)]);
        let second = first.clone();
        let (first, second) = (Prepared::new(&first), Prepared::new(&second));
        let text_chrf = chrf::symmetric_pairs(&[&first.text, &second.text])[0];
        let scores = compare(&first, &second, text_chrf, OPTIONS);
        for metric in [
            Metric::TriggerAgree,
            Metric::ToolStruct,
            Metric::TextChrf,
            Metric::Exact,
            Metric::LcpFrac,
            Metric::EditRatio,
            Metric::RougeL,
            Metric::BashIou,
        ] {
            assert_eq!(
                scores.values[metric.index()],
                Some(1.0),
                "{}",
                metric.name()
            );
        }
        assert_eq!(scores.first_divergence, None);
    }

    #[test]
    fn bash_iou_compares_the_executables_of_bash_calls() {
        let score = |left: &Output, right: &Output| {
            let (left, right) = (Prepared::new(left), Prepared::new(right));
            compare(&left, &right, 0.0, OPTIONS).values[Metric::BashIou.index()]
        };
        let grep_and_ls = output(
            "",
            &[("bash", r#"{"command":"rg -n foo src | head && ls"}"#)],
        );
        let grep = output("", &[("bash", r#"{"command":"grep -rn foo ."}"#)]);
        let prose = output("no tools", &[]);
        assert_eq!(score(&grep_and_ls, &grep), Some(1.0 / 3.0));
        assert_eq!(score(&grep, &prose), Some(0.0));
        assert_eq!(
            score(&prose, &prose),
            None,
            "undefined when neither runs a command"
        );
    }

    #[test]
    fn near_tie_follows_the_vllm_rule() {
        let token = |token: &str, logprob: f64, top: &[(&str, f64)]| TokenLogprob {
            token: token.to_owned(),
            logprob,
            top_logprobs: top
                .iter()
                .map(|(token, logprob)| crate::replay::record::TopLogprob {
                    token: (*token).to_owned(),
                    logprob: *logprob,
                })
                .collect(),
        };
        let first = [
            token("a", -0.1, &[("a", -0.1)]),
            token("x", -0.6, &[("x", -0.6), ("y", -0.7)]),
        ];
        let second = [
            token("a", -0.1, &[("a", -0.1)]),
            token("y", -0.65, &[("y", -0.65), ("x", -0.66)]),
        ];
        assert_eq!(near_tie(&first, &second, 0.25), Some(true));
        let far = [
            token("a", -0.1, &[("a", -0.1)]),
            token("y", -0.1, &[("y", -0.1), ("x", -3.0)]),
        ];
        assert_eq!(near_tie(&first, &far, 0.25), Some(false));
        assert_eq!(near_tie(&first, &first, 0.25), None);
    }
}
