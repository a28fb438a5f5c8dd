//! `trajkit redact` on real trajectories with planted secrets: none survives, each is counted
//! under its kind with one placeholder per value, nothing else changes, the output is
//! byte-identical across runs and thread counts; and a clean real corpus yields no token
//! findings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use trajkit::dataset::Dataset;

use crate::util::{corpus, files_under, ingest_args, run_ok, shared, temp_dir};

/// Real trajectories in which redact finds nothing before planting (asserted below), so every
/// difference after redaction is a planted secret's.
const CLEAN_FILES: &[&str] = &[
    "data/real/claude-code/tracelab_claude_segment.jsonl",
    "data/real/codex/tracelab_codex_segment.jsonl",
    "data/real/mini-swe-agent/gemini3pro_django__django-16560.traj.json",
    "data/real/mini-swe-agent/gemini3pro_sympy__sympy-20590.traj.json",
    "data/real/swe-agent/function_calling__marshmallow-1867.traj",
];

/// A secret to plant: its expected kind, the text inserted, and the value that must vanish.
#[derive(Debug, Clone)]
struct Planted {
    kind: &'static str,
    snippet: String,
    value: String,
}

/// Deterministic pseudo-random characters (xorshift), so the planted values are fixed.
struct Characters(u64);

impl Characters {
    fn take(&mut self, alphabet: &str, count: usize) -> String {
        let alphabet: Vec<char> = alphabet.chars().collect();
        (0..count)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                alphabet[usize::try_from(self.0 % alphabet.len() as u64).unwrap()]
            })
            .collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URL_SAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const HEX: &str = "0123456789abcdef";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Fake secrets in the real formats (prefixes, lengths, alphabets), `variant` making each
/// distinct: 22 kinds.
fn secrets(variant: u64) -> Vec<Planted> {
    let mut random = Characters(0x9E37_79B9_7F4A_7C15 ^ (variant + 1).wrapping_mul(0x2545_F491));
    let mut token = |kind, prefix: &str, alphabet, count, suffix: &str, context: &str| {
        let value = format!("{prefix}{}{suffix}", random.take(alphabet, count));
        Planted {
            kind,
            snippet: format!("{context}{value}"),
            value,
        }
    };
    let mut planted = vec![
        token(
            "openai-api-key",
            "sk-proj-",
            URL_SAFE,
            74,
            "",
            "OPENAI_KEY is ",
        ),
        token(
            "anthropic-api-key",
            "sk-ant-api03-",
            URL_SAFE,
            93,
            "AA",
            "key: ",
        ),
        token(
            "anthropic-admin-api-key",
            "sk-ant-admin01-",
            URL_SAFE,
            93,
            "AA",
            "admin ",
        ),
        token(
            "aws-access-token",
            "AKIA",
            BASE32,
            16,
            "",
            "aws_access_key_id ",
        ),
        token("gcp-api-key", "AIza", URL_SAFE, 35, "", "maps key "),
        token("github-pat", "ghp_", ALNUM, 36, "", "git push with "),
        token(
            "github-fine-grained-pat",
            "github_pat_",
            ALNUM,
            82,
            "",
            "GH ",
        ),
        token("github-oauth", "gho_", ALNUM, 36, "", "oauth "),
        token(
            "slack-bot-token",
            "xoxb-1234567890-9876543210",
            ALNUM,
            24,
            "",
            "slack ",
        ),
        token("stripe-access-token", "sk_live_", ALNUM, 32, "", "stripe "),
        token(
            "huggingface-access-token",
            "hf_",
            LETTERS,
            34,
            "",
            "HF hub token ",
        ),
        token(
            "npm-access-token",
            "npm_",
            ALNUM,
            36,
            "",
            "//registry.npmjs.org/:_authToken ",
        ),
        token("gitlab-pat", "glpat-", URL_SAFE, 20, "", "gitlab "),
        token("digitalocean-pat", "dop_v1_", HEX, 64, "", "doctl auth "),
        token("databricks-api-token", "dapi", HEX, 32, "", "databricks "),
    ];
    // The OpenAI format carries its marker in the middle.
    let openai = &mut planted[0];
    openai.value = format!("{}T3BlbkFJ{}", openai.value, random.take(URL_SAFE, 74));
    openai.snippet = format!("OPENAI_KEY is {}", openai.value);
    planted.extend(contextual_secrets(&mut random, variant));
    planted
}

/// Fake private key, JWT, and the values trajkit's own rules find by their context.
fn contextual_secrets(random: &mut Characters, variant: u64) -> Vec<Planted> {
    let key_body: Vec<String> = (0..4).map(|_| random.take(BASE64, 64)).collect();
    let private_key = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
        key_body.join("\n")
    );
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTAw{}.{}",
        random.take(ALNUM, 24),
        random.take(URL_SAFE, 43)
    );
    let password = format!("Pw{}!", random.take(ALNUM, 12));
    let url_password = format!("db{}", random.take(ALNUM, 14));
    let user = format!("dev{}", random.take("abcdefghijklmnopqrstuvwxyz", 6));
    let email = format!(
        "{}.{}@{}mail.io",
        random.take("abcdefghijklmnopqrstuvwxyz", 5),
        random.take("abcdefghijklmnopqrstuvwxyz", 7),
        random.take("abcdefghijklmnopqrstuvwxyz", 4)
    );
    let ipv4 = format!("34.{}.{}.{}", 100 + variant, 17 + variant, 200 + variant);
    let ipv6 = format!("2a01:4f8:c17:{:x}::8a2e:370:7334", 0x1000 + variant);
    vec![
        Planted {
            kind: "private-key",
            snippet: format!("cat id_rsa\n{private_key}"),
            value: private_key,
        },
        Planted {
            kind: "jwt",
            snippet: format!("Authorization: Bearer {jwt}"),
            value: jwt,
        },
        Planted {
            kind: "env-secret",
            snippet: format!("export DB_PASSWORD={password}"),
            value: password,
        },
        Planted {
            kind: "url-password",
            snippet: format!("postgres://app:{url_password}@db.internal:5432/app"),
            value: url_password,
        },
        Planted {
            kind: "home-user",
            snippet: format!("cd /home/{user}/project"),
            value: user,
        },
        Planted {
            kind: "email",
            snippet: format!("Author: Someone <{email}>"),
            value: email,
        },
        Planted {
            kind: "ipv4",
            snippet: format!("ssh deploy@{ipv4}"),
            value: ipv4,
        },
        Planted {
            kind: "ipv6",
            snippet: format!("curl -6 http://[{ipv6}]:8080/"),
            value: ipv6,
        },
    ]
}

/// The forms a value takes in the dataset's text: as is, and JSON-escaped once or twice (inside
/// `fields_json`, and inside arguments inside `fields_json`).
fn forms(value: &str) -> Vec<String> {
    let once = serde_json::to_string(value).unwrap();
    let once = once[1..once.len() - 1].to_owned();
    let twice = serde_json::to_string(&once).unwrap();
    let twice = twice[1..twice.len() - 1].to_owned();
    let mut forms = vec![value.to_owned(), once, twice];
    forms.dedup();
    forms
}

/// Appends planted snippets to string values of a raw log: every third string of at least 200
/// characters, cycling through `pool`, so each secret lands in several places and fields.
fn plant(value: &mut Value, pool: &[Planted], counter: &mut usize) {
    match value {
        Value::String(text) if text.len() >= 200 => {
            if counter.is_multiple_of(3) {
                let planted = &pool[(*counter / 3) % pool.len()];
                text.push('\n');
                text.push_str(&planted.snippet);
                text.push('\n');
            }
            *counter += 1;
        }
        Value::Array(items) => {
            for item in items {
                plant(item, pool, counter);
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                plant(item, pool, counter);
            }
        }
        _ => {}
    }
}

/// Copies the clean files into `directory` with secrets planted.
fn planted_copies(directory: &Path, pool: &[Planted]) -> Vec<PathBuf> {
    let mut counter = 0;
    CLEAN_FILES
        .iter()
        .map(|relative| {
            let source = shared(relative);
            let text = fs_err::read_to_string(&source).unwrap();
            let planted = if source
                .extension()
                .is_some_and(|extension| extension == "jsonl")
            {
                let mut out = String::new();
                for line in text.lines() {
                    let mut record: Value = serde_json::from_str(line).unwrap();
                    plant(&mut record, pool, &mut counter);
                    out.push_str(&serde_json::to_string(&record).unwrap());
                    out.push('\n');
                }
                out
            } else {
                let mut document: Value = serde_json::from_str(&text).unwrap();
                plant(&mut document, pool, &mut counter);
                serde_json::to_string_pretty(&document).unwrap()
            };
            let target = directory.join(source.file_name().unwrap());
            fs_err::write(&target, planted).unwrap();
            target
        })
        .collect()
}

/// Every row of a dataset as JSON values, by table, in order.
fn rows(dataset: &Path) -> Vec<Value> {
    let dataset = Dataset::open(dataset).unwrap();
    let mut out = Vec::new();
    for session in dataset.sessions() {
        let data = dataset.load(session).unwrap();
        let mut session_row = serde_json::to_value(&data.session).unwrap();
        // Row offsets are positions, not content.
        session_row["turn_row_offset"] = Value::Null;
        session_row["message_row_offset"] = Value::Null;
        out.push(session_row);
        out.extend(
            data.messages
                .iter()
                .map(|m| serde_json::to_value(m).unwrap()),
        );
        out.extend(data.turns.iter().map(|t| serde_json::to_value(t).unwrap()));
    }
    out
}

fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| strings(item, out)),
        _ => {}
    }
}

fn substitute(value: &mut Value, replacements: &[(String, String)]) {
    match value {
        Value::String(text) => {
            for (from, to) in replacements {
                if text.contains(from.as_str()) {
                    *text = text.replace(from.as_str(), to);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| substitute(item, replacements)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| substitute(item, replacements)),
        _ => {}
    }
}

fn redact(input: &Path, output: &Path, flags: &[&str]) -> Value {
    let report = output.with_extension("report.json");
    let mut args = vec![
        "redact".to_owned(),
        input.display().to_string(),
        "-o".to_owned(),
        output.display().to_string(),
        "--force".to_owned(),
        "--report".to_owned(),
        report.display().to_string(),
    ];
    args.extend(flags.iter().map(|flag| (*flag).to_owned()));
    run_ok(&args);
    serde_json::from_str(&fs_err::read_to_string(report).unwrap()).unwrap()
}

fn occurrences(report: &Value) -> BTreeMap<String, u64> {
    report["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| {
            (
                kind["kind"].as_str().unwrap().to_owned(),
                kind["occurrences"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Each present value's placeholder, read where it first occurs with an unchanged prefix;
/// asserts it has the value's kind and that two values of a kind got two placeholders.
fn placeholders(
    present: &[&Planted],
    planted_rows: &[Value],
    redacted_rows: &[Value],
) -> Vec<(String, String)> {
    // Each value got one placeholder of its kind: read it where the value first occurs.
    let mut replacements: Vec<(String, String)> = Vec::new();
    let mut numbers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for planted in present {
        // Where the text before the value is unchanged, the placeholder starts at the same byte.
        let placeholder_start = planted_rows
            .iter()
            .zip(redacted_rows)
            .find_map(|(before, after)| {
                let mut before_strings = Vec::new();
                strings(before, &mut before_strings);
                let mut after_strings = Vec::new();
                strings(after, &mut after_strings);
                before_strings
                    .into_iter()
                    .zip(after_strings)
                    .find_map(|(b, a)| {
                        forms(&planted.value).into_iter().find_map(|form| {
                            b.match_indices(&form)
                                .map(|(at, _)| at)
                                .find(|&at| a.get(..at) == b.get(..at))
                                .map(|at| a[at..].to_owned())
                        })
                    })
            })
            .expect("an occurrence with an unchanged prefix");
        let end = placeholder_start.find(']').expect("a placeholder") + 1;
        let placeholder = placeholder_start[..end].to_owned();
        assert!(
            placeholder.starts_with(&format!("[REDACTED:{}:", planted.kind)),
            "{} was replaced by {placeholder}",
            planted.kind
        );
        numbers
            .entry(planted.kind)
            .or_default()
            .push(placeholder.clone());
        for form in forms(&planted.value) {
            replacements.push((form, placeholder.clone()));
        }
    }
    for (kind, placeholders) in &numbers {
        let distinct: std::collections::BTreeSet<_> = placeholders.iter().collect();
        assert_eq!(
            distinct.len(),
            placeholders.len(),
            "{kind}: two values, one placeholder"
        );
    }
    replacements
}

/// A second run, with one thread, writes the same bytes and the same report.
fn assert_deterministic(root: &Path, planted: &Path, redacted: &Path, report: &Value) {
    // Byte-identical on a second run and with one thread.
    // Same directory name, so the manifest's `name` is the same too.
    fs_err::create_dir(root.join("again")).unwrap();
    let again = root.join("again").join("redacted.trajkit");
    let report_again = redact(planted, &again, &["-q", "-j", "1"]);
    assert_eq!(report, &report_again);
    let files = files_under(redacted);
    assert_eq!(files.len(), files_under(&again).len());
    for file in files {
        let relative = file.strip_prefix(redacted).unwrap();
        assert!(
            fs_err::read(&file).unwrap() == fs_err::read(again.join(relative)).unwrap(),
            "{} differs between runs",
            relative.display()
        );
    }
}

/// The planted values that reached the dataset (raw fields the reader does not keep do not),
/// and the number of places they occur.
fn present_values<'a>(pool: &'a [Planted], planted_text: &[String]) -> (Vec<&'a Planted>, usize) {
    let present: Vec<&Planted> = pool
        .iter()
        .filter(|p| {
            forms(&p.value)
                .iter()
                .any(|form| planted_text.iter().any(|text| text.contains(form.as_str())))
        })
        .collect();
    let sites: usize = present
        .iter()
        .map(|p| {
            forms(&p.value)
                .iter()
                .map(|form| {
                    planted_text
                        .iter()
                        .map(|text| text.matches(form.as_str()).count())
                        .sum::<usize>()
                })
                .sum::<usize>()
        })
        .sum();
    (present, sites)
}

#[test]
fn planted_secrets_vanish_are_counted_and_nothing_else_changes() {
    let directory = temp_dir();
    let root = directory.path();

    // The clean corpus is clean: redact finds nothing in it.
    let clean_inputs: Vec<PathBuf> = CLEAN_FILES.iter().map(|file| shared(file)).collect();
    let clean_refs: Vec<&Path> = clean_inputs.iter().map(PathBuf::as_path).collect();
    let clean = root.join("clean.trajkit");
    run_ok(ingest_args(
        &clean_refs,
        &clean,
        &["-q", "--tokenizer", "none"],
    ));
    let report = redact(&clean, &root.join("clean-redacted.trajkit"), &["-q"]);
    assert_eq!(report["occurrences"], 0, "{report:#}");

    // Plant three distinct values of each kind, each in several places.
    let mut pool = secrets(0);
    pool.extend(secrets(1));
    pool.extend(secrets(2));
    let kinds: std::collections::BTreeSet<&str> = pool.iter().map(|p| p.kind).collect();
    let planted_dir = root.join("raw");
    fs_err::create_dir(&planted_dir).unwrap();
    let inputs = planted_copies(&planted_dir, &pool);
    let input_refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let planted = root.join("planted.trajkit");
    run_ok(ingest_args(
        &input_refs,
        &planted,
        &["-q", "--tokenizer", "o200k"],
    ));
    let redacted = root.join("redacted.trajkit");
    let report = redact(&planted, &redacted, &["-q"]);

    let planted_rows = rows(&planted);
    let redacted_rows = rows(&redacted);
    assert_eq!(planted_rows.len(), redacted_rows.len());
    let mut planted_text = Vec::new();
    for row in &planted_rows {
        strings(row, &mut planted_text);
    }
    let mut redacted_text = Vec::new();
    for row in &redacted_rows {
        strings(row, &mut redacted_text);
    }
    let redacted_text = redacted_text.join("\n");
    let manifest = fs_err::read_to_string(redacted.join("manifest.json")).unwrap();

    let (present, sites) = present_values(&pool, &planted_text);
    let present_kinds: std::collections::BTreeSet<&str> = present.iter().map(|p| p.kind).collect();
    eprintln!(
        "planted {} values of {} kinds at {sites} sites",
        present.len(),
        present_kinds.len()
    );
    assert_eq!(present_kinds, kinds, "every kind reached the dataset");
    assert!(
        present.len() >= 50 && present_kinds.len() >= 15 && sites >= 50,
        "{} values, {sites} sites",
        present.len()
    );

    // None survives, in any form, in any column or in the manifest.
    for planted in &pool {
        for form in forms(&planted.value) {
            assert!(
                !redacted_text.contains(&form),
                "{} survived: {form}",
                planted.kind
            );
            assert!(
                !manifest.contains(&form),
                "{} survived in the manifest",
                planted.kind
            );
        }
    }

    let mut replacements = placeholders(&present, &planted_rows, &redacted_rows);
    // Longer values first, so no value is replaced inside another.
    replacements.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));

    // Nothing else changed: the planted rows with each value replaced by its placeholder are
    // the redacted rows, every column (counts and hash ids included).
    for (before, after) in planted_rows.iter().zip(&redacted_rows) {
        let mut expected = before.clone();
        substitute(&mut expected, &replacements);
        assert_eq!(&expected, after);
    }

    // Counted under the right kind: the report's occurrences per kind are the replacements made.
    let counts = occurrences(&report);
    assert_eq!(
        counts
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        kinds,
        "{report:#}"
    );
    for kind in &kinds {
        let expected: usize = redacted_text.matches(&format!("[REDACTED:{kind}:")).count();
        assert_eq!(counts[*kind], expected as u64, "{kind}");
    }
    assert_eq!(report["distinct"], present.len());

    assert_deterministic(root, &planted, &redacted, &report);
}

#[test]
fn a_clean_real_corpus_has_no_token_findings() {
    // 47 mini-swe-agent SWE-bench runs: no credentials, but real authors' emails and home
    // directories in quoted issues and tracebacks, which are personal data and are redacted.
    let directory = temp_dir();
    let dataset = directory.path().join("corpus.trajkit");
    run_ok(ingest_args(
        &[&corpus()],
        &dataset,
        &["-q", "--tokenizer", "none"],
    ));
    let report = redact(
        &dataset,
        &directory.path().join("redacted.trajkit"),
        &["-q"],
    );
    let counts = occurrences(&report);
    eprintln!("clean corpus: {counts:?}, {} distinct", report["distinct"]);
    let personal = ["email", "home-user", "ipv4", "ipv6", "env-secret"];
    for kind in counts.keys() {
        assert!(
            personal.contains(&kind.as_str()),
            "token finding `{kind}`: {report:#}"
        );
    }
    // When written: 38 replacements of 11 distinct values (4 authors' emails, 6 user names in
    // tracebacks, and Django's test `SECRET_KEY = "django_tests_secret_key"`).
    assert!(report["occurrences"].as_u64().unwrap() <= 60, "{report:#}");
}
