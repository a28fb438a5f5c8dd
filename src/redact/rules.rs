//! The secret detectors: Gitleaks' maintained rule set (vendored in `gitleaks-rules.json`, see
//! `README.md` beside it) plus trajkit's own rules for personal data (`extra`), combined into one
//! [`Detector`] that finds the spans of a text to redact.
//!
//! Gitleaks semantics are kept where a trajectory has the same notion: a rule runs only when one
//! of its keywords occurs (case-insensitively), its secret is the configured capture group (else
//! the first non-empty one, else the whole match), a non-zero entropy threshold must be strictly
//! exceeded, and allowlists (global and the rule's own, on the secret, the match or the line)
//! suppress findings. Path constraints have no counterpart: a trajectory's text has no file path,
//! so rules that need one are skipped and counted.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use super::extra::{self, ExtraRules};

/// The vendored Gitleaks rules.
const GITLEAKS_RULES: &str = include_str!("gitleaks-rules.json");

/// Gitleaks' catch-all rule: any `key = value` with an entropic value. It yields to every
/// specific rule when both find the same secret.
const GENERIC_RULE: &str = "generic-api-key";

/// Compiled regex size allowed per rule (some Gitleaks rules are large alternations).
const REGEX_SIZE_LIMIT: usize = 64 << 20;

/// A rule of the rule set that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedRule {
    /// The rule id.
    pub id: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Identifies a kind of finding: an index into [`Detector::kinds`].
pub type KindId = u16;

/// Priority of a finding when spans overlap: lower wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A provider-specific Gitleaks rule (a token format).
    Specific = 0,
    /// One of trajkit's rules (email, IP, URL password, environment assignment, home directory).
    Extra = 1,
    /// Gitleaks' generic `key = value` rule.
    Generic = 2,
}

/// A span of text that holds a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// What was found.
    pub kind: KindId,
    /// Which detector found it.
    pub priority: Priority,
}

#[derive(Deserialize)]
struct RuleFile {
    global_allowlist: GlobalAllowlistFile,
    rules: Vec<RuleEntry>,
}

#[derive(Deserialize)]
struct GlobalAllowlistFile {
    regexes: Vec<String>,
    stopwords: Vec<String>,
}

#[derive(Deserialize)]
struct RuleEntry {
    id: String,
    regex: String,
    secret_group: Option<usize>,
    keywords: Vec<String>,
    entropy: f64,
    needs_path: bool,
    allowlists: Vec<AllowlistEntry>,
}

#[derive(Deserialize)]
struct AllowlistEntry {
    target: String,
    regexes: Vec<String>,
    stopwords: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Secret,
    Match,
    Line,
}

#[derive(Debug)]
struct Allowlist {
    target: Target,
    regexes: Vec<Regex>,
    /// Lowercase.
    stopwords: Vec<String>,
}

#[derive(Debug)]
struct Rule {
    kind: KindId,
    regex: Regex,
    secret_group: Option<usize>,
    entropy: f64,
    priority: Priority,
    allowlists: Vec<Allowlist>,
}

/// Every detector, compiled once and shared by the worker threads.
#[derive(Debug)]
pub struct Detector {
    kinds: Vec<String>,
    rules: Vec<Rule>,
    /// Keyword automaton; pattern `i` gates the rules `keyword_rules[i]`.
    keywords: AhoCorasick,
    keyword_rules: Vec<Vec<usize>>,
    global_regexes: Vec<Regex>,
    global_stopwords: Vec<String>,
    extra: ExtraRules,
    skipped: Vec<SkippedRule>,
}

/// The vendored rule file is unreadable (a build defect, not an input error).
#[derive(Debug, thiserror::Error)]
#[error("the vendored Gitleaks rule file is unreadable: {0}")]
pub struct RuleFileError(String);

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    // ASCII classes and boundaries, as in Go's RE2 where the rules were written.
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

impl Detector {
    /// Compiles the vendored Gitleaks rules and trajkit's own; rules that do not compile or need
    /// a file path are skipped and listed in [`Detector::skipped`].
    pub fn new() -> Result<Detector, RuleFileError> {
        let file: RuleFile = serde_json::from_str(GITLEAKS_RULES)
            .map_err(|error| RuleFileError(error.to_string()))?;
        let mut kinds: Vec<String> = Vec::new();
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        let mut keyword_patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for entry in file.rules {
            if entry.needs_path {
                skipped.push(SkippedRule {
                    id: entry.id,
                    reason: "matches only in files of given names; text has no path".to_owned(),
                });
                continue;
            }
            let regex = match compile(&entry.regex) {
                Ok(regex) => regex,
                Err(error) => {
                    skipped.push(SkippedRule {
                        id: entry.id,
                        reason: format!("regex does not compile: {error}"),
                    });
                    continue;
                }
            };
            let allowlists = match compile_allowlists(&entry.allowlists) {
                Ok(allowlists) => allowlists,
                Err(reason) => {
                    // A rule without its allowlist would over-redact; drop it whole.
                    skipped.push(SkippedRule {
                        id: entry.id,
                        reason,
                    });
                    continue;
                }
            };
            let Ok(kind) = KindId::try_from(kinds.len()) else {
                break;
            };
            let priority = if entry.id == GENERIC_RULE {
                Priority::Generic
            } else {
                Priority::Specific
            };
            kinds.push(entry.id);
            let rule_index = rules.len();
            rules.push(Rule {
                kind,
                regex,
                secret_group: entry.secret_group,
                entropy: entry.entropy,
                priority,
                allowlists,
            });
            for keyword in entry.keywords {
                let keyword = keyword.to_lowercase();
                if let Some(position) = keyword_patterns.iter().position(|k| *k == keyword) {
                    keyword_rules[position].push(rule_index);
                } else {
                    keyword_patterns.push(keyword);
                    keyword_rules.push(vec![rule_index]);
                }
            }
        }
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&keyword_patterns)
            .map_err(|error| RuleFileError(error.to_string()))?;
        let global_regexes = file
            .global_allowlist
            .regexes
            .iter()
            .map(|pattern| compile(pattern))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| RuleFileError(error.to_string()))?;
        let extra =
            ExtraRules::new(&mut kinds).map_err(|error| RuleFileError(error.to_string()))?;
        Ok(Detector {
            kinds,
            rules,
            keywords,
            keyword_rules,
            global_regexes,
            global_stopwords: file
                .global_allowlist
                .stopwords
                .iter()
                .map(|s| s.to_lowercase())
                .collect(),
            extra,
            skipped,
        })
    }

    /// Every kind's name, indexed by [`KindId`].
    pub fn kinds(&self) -> &[String] {
        &self.kinds
    }

    /// The kind with this name.
    pub fn kind(&self, name: &str) -> Option<KindId> {
        self.kinds
            .iter()
            .position(|kind| kind == name)
            .and_then(|index| KindId::try_from(index).ok())
    }

    /// Gitleaks rules in use.
    pub fn gitleaks_rules(&self) -> usize {
        self.rules.len()
    }

    /// Gitleaks rules that could not be used.
    pub fn skipped(&self) -> &[SkippedRule] {
        &self.skipped
    }

    /// Whether a value is one the global allowlist exempts (placeholders such as `${TOKEN}`).
    pub fn globally_allowed(&self, value: &str) -> bool {
        let lower = value.to_lowercase();
        self.global_regexes
            .iter()
            .any(|regex| regex.is_match(value.as_bytes()))
            || self
                .global_stopwords
                .iter()
                .any(|word| lower.contains(word))
    }

    /// The spans of `text` to redact: sorted, disjoint, at character boundaries. Where findings
    /// overlap, the higher-priority one is kept (a provider rule over trajkit's over the generic
    /// one; then the earlier, then the longer).
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let mut candidates = Vec::new();
        self.find_gitleaks(text, &mut candidates);
        extra::find(&self.extra, self, text, &mut candidates);
        resolve(text, candidates)
    }

    fn find_gitleaks(&self, text: &str, out: &mut Vec<Finding>) {
        let bytes = text.as_bytes();
        let mut run = vec![false; self.rules.len()];
        for found in self.keywords.find_overlapping_iter(bytes) {
            for &rule in &self.keyword_rules[found.pattern().as_usize()] {
                run[rule] = true;
            }
        }
        for (rule, _) in self.rules.iter().zip(&run).filter(|(_, run)| **run) {
            for captures in rule.regex.captures_iter(bytes) {
                let Some(whole) = captures.get(0) else {
                    continue;
                };
                let secret = match rule.secret_group {
                    Some(group) => captures.get(group),
                    None => captures
                        .iter()
                        .skip(1)
                        .flatten()
                        .find(|group| !group.is_empty())
                        .or(Some(whole)),
                };
                let Some(secret) = secret.filter(|secret| !secret.is_empty()) else {
                    continue;
                };
                let secret_bytes = secret.as_bytes();
                if rule.entropy > 0.0 && shannon_entropy(secret_bytes) <= rule.entropy {
                    continue;
                }
                if self.allowed(rule, bytes, secret_bytes, whole.range()) {
                    continue;
                }
                out.push(Finding {
                    start: secret.start(),
                    end: secret.end(),
                    kind: rule.kind,
                    priority: rule.priority,
                });
            }
        }
    }

    fn allowed(
        &self,
        rule: &Rule,
        text: &[u8],
        secret: &[u8],
        whole: std::ops::Range<usize>,
    ) -> bool {
        let lower_secret = secret.to_ascii_lowercase();
        let contains_stopword = |words: &[String]| {
            words
                .iter()
                .any(|word| memchr::memmem::find(&lower_secret, word.as_bytes()).is_some())
        };
        if self
            .global_regexes
            .iter()
            .any(|regex| regex.is_match(secret))
            || contains_stopword(&self.global_stopwords)
        {
            return true;
        }
        rule.allowlists.iter().any(|group| {
            let subject = match group.target {
                Target::Secret => secret,
                Target::Match => &text[whole.clone()],
                Target::Line => {
                    let start = memchr::memrchr(b'\n', &text[..whole.start]).map_or(0, |at| at + 1);
                    let end = memchr::memchr(b'\n', &text[whole.end..])
                        .map_or(text.len(), |at| whole.end + at);
                    &text[start..end]
                }
            };
            group.regexes.iter().any(|regex| regex.is_match(subject))
                || contains_stopword(&group.stopwords)
        })
    }
}

fn compile_allowlists(groups: &[AllowlistEntry]) -> Result<Vec<Allowlist>, String> {
    groups
        .iter()
        .map(|group| {
            let target = match group.target.as_str() {
                "secret" => Target::Secret,
                "match" => Target::Match,
                "line" => Target::Line,
                other => return Err(format!("unknown allowlist target `{other}`")),
            };
            let regexes = group
                .regexes
                .iter()
                .map(|pattern| compile(pattern))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("allowlist regex does not compile: {error}"))?;
            Ok(Allowlist {
                target,
                regexes,
                stopwords: group.stopwords.iter().map(|s| s.to_lowercase()).collect(),
            })
        })
        .collect()
}

/// Shannon entropy in bits per byte, as Gitleaks computes it.
fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0_u32; 256];
    for &byte in bytes {
        counts[usize::from(byte)] += 1;
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "texts are far shorter than 2^52 bytes"
    )]
    let length = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let probability = f64::from(count) / length;
            -probability * probability.log2()
        })
        .sum()
}

/// Widens spans to character boundaries (byte rules can stop inside a UTF-8 sequence), then keeps
/// the best of each group of overlapping findings.
fn resolve(text: &str, mut candidates: Vec<Finding>) -> Vec<Finding> {
    for finding in &mut candidates {
        while finding.start > 0 && !text.is_char_boundary(finding.start) {
            finding.start -= 1;
        }
        while finding.end < text.len() && !text.is_char_boundary(finding.end) {
            finding.end += 1;
        }
    }
    candidates.sort_by_key(|finding| {
        (
            finding.priority,
            finding.start,
            std::cmp::Reverse(finding.end),
            finding.kind,
        )
    });
    let mut kept: Vec<Finding> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if candidate.start >= candidate.end {
            continue;
        }
        let overlaps = kept
            .iter()
            .any(|finding| candidate.start < finding.end && finding.start < candidate.end);
        if !overlaps {
            kept.push(candidate);
        }
    }
    kept.sort_by_key(|finding| finding.start);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_rules_compile_except_the_listed_ones() {
        let detector = Detector::new().expect("rules");
        let skipped: Vec<&str> = detector.skipped().iter().map(|s| s.id.as_str()).collect();
        for needed in [
            "openai-api-key",
            "anthropic-api-key",
            "anthropic-admin-api-key",
            "aws-access-token",
            "gcp-api-key",
            "github-pat",
            "github-fine-grained-pat",
            "github-oauth",
            "slack-bot-token",
            "slack-webhook-url",
            "stripe-access-token",
            "huggingface-access-token",
            "private-key",
            "jwt",
            "npm-access-token",
            "pypi-upload-token",
            "gitlab-pat",
            "sendgrid-api-token",
            "generic-api-key",
        ] {
            assert!(detector.kind(needed).is_some(), "{needed} is not in use");
        }
        assert!(detector.gitleaks_rules() >= 210, "{skipped:?}");
        assert!(skipped.len() <= 6, "{skipped:?}");
    }

    #[test]
    fn entropy_matches_gitleaks() {
        assert!((shannon_entropy(b"aaaa") - 0.0).abs() < 1e-9);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    }
}
