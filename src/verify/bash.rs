//! The MLCommons bash-action rule (the Agentic Inference inline scorer's coding-turn score), so that
//! verify's `bash_iou` reads on the scale MLPerf submitters know: the executables a turn's `bash`
//! tool calls run, normalized, compared as multisets by intersection over union.
//!
//! The rule, as `AgenticInferenceInlineScorer._bash_actions` in mlcommons/endpoints
//! (`src/inference_endpoint/evaluation/scoring.py`, Apache-2.0) states it: only calls of a tool
//! named `bash` whose arguments are a JSON object count; the command is `command` (or, when that
//! is empty or absent, `cmd`) and must be a string; quoted strings are blanked; the command is cut
//! at `||`, `|`, `&&`, `;` and newlines; each stage drops leading `NAME=value` assignments and the
//! wrappers `env`, `time`, `nice`, `sudo`, `exec`, `command`; its first word loses any directory
//! and a Python version suffix (`python3.11` → `python3`), is lowercased, and counts only when the
//! alias table below names it (so `rg` and `ag` count as `grep`, and `vim` not at all).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Executables that count, and the action each stands for (the MLCommons `_EXECUTABLE_ALIASES`).
const ALIASES: [(&str, &str); 58] = [
    ("python", "python"),
    ("python2", "python"),
    ("python3", "python"),
    ("py", "python"),
    ("pip", "pip"),
    ("pip3", "pip"),
    ("pytest", "pytest"),
    ("pylint", "pylint"),
    ("sphinx-build", "sphinx"),
    ("sphinx-quickstart", "sphinx"),
    ("cython", "cython"),
    ("make", "make"),
    ("conda", "conda"),
    ("cat", "cat"),
    ("head", "head"),
    ("tail", "tail"),
    ("less", "cat"),
    ("more", "cat"),
    ("wc", "wc"),
    ("diff", "diff"),
    ("grep", "grep"),
    ("egrep", "grep"),
    ("fgrep", "grep"),
    ("rg", "grep"),
    ("ag", "grep"),
    ("sed", "sed"),
    ("awk", "awk"),
    ("gawk", "awk"),
    ("tr", "tr"),
    ("sort", "sort"),
    ("uniq", "uniq"),
    ("cut", "cut"),
    ("find", "find"),
    ("ls", "ls"),
    ("locate", "find"),
    ("xargs", "xargs"),
    ("cp", "cp"),
    ("mv", "mv"),
    ("rm", "rm"),
    ("mkdir", "mkdir"),
    ("touch", "touch"),
    ("tee", "tee"),
    ("source", "source"),
    (".", "source"),
    ("which", "which"),
    ("alias", "alias"),
    ("unset", "unset"),
    ("export", "export"),
    ("git", "git"),
    ("curl", "curl"),
    ("wget", "curl"),
    ("true", "true"),
    ("false", "false"),
    ("timeout", "timeout"),
    ("date", "date"),
    ("apt-get", "apt"),
    ("apt", "apt"),
    ("yum", "yum"),
];

/// Words dropped before a stage's executable.
const WRAPPERS: [&str; 6] = ["env", "time", "nice", "sudo", "exec", "command"];

struct Patterns {
    quoted: Regex,
    separator: Regex,
    assignment: Regex,
    version_suffix: Regex,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    quoted: Regex::new(r#"'[^']*'|"(?:[^"\\]|\\.)*"|`[^`]*`"#).expect("valid pattern"),
    separator: Regex::new(r"\|\||\||&&|;|\n").expect("valid pattern"),
    assignment: Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*=").expect("valid pattern"),
    version_suffix: Regex::new(r"\.\d+(\.\d+)?$").expect("valid pattern"),
});

fn alias(executable: &str) -> Option<&'static str> {
    ALIASES
        .iter()
        .find(|(name, _)| *name == executable)
        .map(|(_, action)| *action)
}

/// The actions of one shell command, in order.
fn command_actions(command: &str, actions: &mut Vec<&'static str>) {
    let patterns = &*PATTERNS;
    let blanked = patterns.quoted.replace_all(command, " ");
    for stage in patterns.separator.split(&blanked) {
        let mut words = stage
            .split_whitespace()
            .skip_while(|word| patterns.assignment.is_match(word) || WRAPPERS.contains(word));
        let Some(first) = words.next() else {
            continue;
        };
        let base = first.rsplit('/').next().unwrap_or(first).to_lowercase();
        let executable = patterns.version_suffix.replace(&base, "");
        if let Some(action) = alias(&executable) {
            actions.push(action);
        }
    }
}

/// The normalized bash actions of an output's tool calls (name, parsed arguments), sorted.
pub fn actions<'call>(
    calls: impl IntoIterator<Item = (&'call str, Option<&'call Value>)>,
) -> Vec<&'static str> {
    let mut actions = Vec::new();
    for (name, arguments) in calls {
        if name != "bash" {
            continue;
        }
        let Some(Value::Object(arguments)) = arguments else {
            continue;
        };
        let truthy = |key: &str| arguments.get(key).filter(|value| !is_falsy(value)).cloned();
        // Python's `args.get("command") or args.get("cmd")`: an empty command falls through.
        let command = truthy("command").or_else(|| arguments.get("cmd").cloned());
        if let Some(Value::String(command)) = command {
            command_actions(&command, &mut actions);
        }
    }
    actions.sort_unstable();
    actions
}

fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(flag) => !flag,
        Value::Number(number) => number.as_f64() == Some(0.0),
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

/// Multiset intersection over union of two sorted action lists; `None` when both are empty
/// (neither side runs a counted command, so there is nothing to compare).
#[allow(clippy::cast_precision_loss, reason = "action counts are small")]
pub fn iou(first: &[&str], second: &[&str]) -> Option<f64> {
    if first.is_empty() && second.is_empty() {
        return None;
    }
    let (mut left, mut right, mut common) = (0, 0, 0);
    while left < first.len() && right < second.len() {
        match first[left].cmp(second[right]) {
            std::cmp::Ordering::Less => left += 1,
            std::cmp::Ordering::Greater => right += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                left += 1;
                right += 1;
            }
        }
    }
    let union = first.len() + second.len() - common;
    Some(common as f64 / union as f64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn of(command: &str) -> Vec<&'static str> {
        let arguments = json!({ "command": command });
        actions([("bash", Some(&arguments))])
    }

    #[test]
    fn commands_reduce_to_normalized_executables() {
        assert_eq!(
            of("CUDA_VISIBLE_DEVICES=0 /usr/bin/python3 -m pytest"),
            ["python"]
        );
        assert_eq!(
            of("cd /testbed && rg -n 'a | b' src | head -5; sudo env X=1 python3.11 x.py"),
            ["grep", "head", "python"]
        );
        // Unknown executables (`cd`, `vim`) do not count; quoted separators do not split.
        assert_eq!(of("vim file && echo \"a; ls\""), Vec::<&str>::new());
        assert_eq!(of("LS -la\nGit status || true"), ["git", "ls", "true"]);
        let empty_command = json!({"command": "", "cmd": "wget x"});
        assert_eq!(actions([("bash", Some(&empty_command))]), ["curl"]);
        let not_bash = json!({"command": "ls"});
        assert!(actions([("python", Some(&not_bash))]).is_empty());
        assert!(actions([("bash", None)]).is_empty());
    }

    #[test]
    fn iou_is_multiset_intersection_over_union() {
        assert_eq!(iou(&[], &[]), None);
        assert_eq!(iou(&["ls"], &[]), Some(0.0));
        assert_eq!(
            iou(&["grep", "grep", "ls"], &["grep", "ls"]),
            Some(2.0 / 3.0)
        );
        assert_eq!(iou(&["cat", "git"], &["git", "ls"]), Some(1.0 / 3.0));
        assert_eq!(iou(&["python"], &["python"]), Some(1.0));
    }
}
