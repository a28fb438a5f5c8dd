//! A session's programming language for `--by language`: the session metadata's own `language`
//! when the log has one (Open-SWE-Traces, SWE-bench multilingual), else the language of the
//! source files the session's messages name most often (`src/app.py`, `lib/mod.rs`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

/// File extensions and their languages. Extensions that many languages' sessions mention
/// (`.sh`, `.md`, `.json`, `.txt`) are left out: they name no project language.
const EXTENSIONS: [(&str, &str); 27] = [
    ("py", "Python"),
    ("pyx", "Python"),
    ("rs", "Rust"),
    ("go", "Go"),
    ("js", "JavaScript"),
    ("jsx", "JavaScript"),
    ("mjs", "JavaScript"),
    ("cjs", "JavaScript"),
    ("ts", "TypeScript"),
    ("tsx", "TypeScript"),
    ("java", "Java"),
    ("kt", "Kotlin"),
    ("scala", "Scala"),
    ("c", "C"),
    ("h", "C"),
    ("cc", "C++"),
    ("cpp", "C++"),
    ("cxx", "C++"),
    ("hpp", "C++"),
    ("cs", "C#"),
    ("rb", "Ruby"),
    ("php", "PHP"),
    ("swift", "Swift"),
    ("ex", "Elixir"),
    ("exs", "Elixir"),
    ("hs", "Haskell"),
    ("lua", "Lua"),
];

static SOURCE_FILE: LazyLock<Regex> = LazyLock::new(|| {
    let alternatives: Vec<&str> = EXTENSIONS.iter().map(|(extension, _)| *extension).collect();
    // A path-like word ending in a known extension, not followed by more name characters.
    Regex::new(&format!(
        r"[A-Za-z0-9_][A-Za-z0-9_\-/]*\.({})\b",
        alternatives.join("|")
    ))
    .unwrap_or_else(|error| panic!("source-file pattern: {error}"))
});

/// Counts the source files named in a session's messages.
#[derive(Debug, Default)]
pub struct LanguageCounter {
    counts: BTreeMap<&'static str, u64>,
}

impl LanguageCounter {
    /// Counts the file names in `text`.
    pub fn add_text(&mut self, text: &str) {
        for captures in SOURCE_FILE.captures_iter(text) {
            let Some(extension) = captures.get(1) else {
                continue;
            };
            if let Some((_, language)) = EXTENSIONS
                .iter()
                .find(|(known, _)| *known == extension.as_str())
            {
                *self.counts.entry(language).or_default() += 1;
            }
        }
    }

    /// The most-named language (ties: alphabetical first); `None` when no file was named.
    pub fn language(&self) -> Option<&'static str> {
        let mut best: Option<(&'static str, u64)> = None;
        for (&language, &count) in &self.counts {
            if best.is_none_or(|(_, best_count)| count > best_count) {
                best = Some((language, count));
            }
        }
        best.map(|(language, _)| language)
    }
}

/// The `language` key of a session's metadata JSON, when it is a non-empty string.
pub fn from_metadata(metadata_json: Option<&str>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(metadata_json?).ok()?;
    let language = value.get("language")?.as_str()?.trim();
    (!language.is_empty()).then(|| language.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_named_source_language_wins() {
        let mut counter = LanguageCounter::default();
        counter.add_text("edit django/db/models/query.py and tests/test_query.py; see setup.cfg");
        counter.add_text("cat src/main.rs; ls README.md script.sh config.json");
        assert_eq!(counter.language(), Some("Python"));
        assert_eq!(LanguageCounter::default().language(), None);
        let mut counter = LanguageCounter::default();
        counter.add_text("version 1.2.3 and example.com are not files; foo.pyc is not python");
        assert_eq!(counter.language(), None);
    }

    #[test]
    fn metadata_language_is_read_when_present() {
        assert_eq!(
            from_metadata(Some(r#"{"language": "go"}"#)),
            Some("go".to_owned())
        );
        assert_eq!(from_metadata(Some(r#"{"language": 3}"#)), None);
        assert_eq!(from_metadata(None), None);
    }
}
