//! Token counting: one tokenizer per run, chosen by `--tokenizer`, used to encode each message once.
//!
//! Turns never re-tokenize their context: ingest encodes every distinct message of a session once
//! and derives each turn's counts and block hashes from those ids. This module only encodes; it
//! knows nothing of messages or turns. Encoding is exact (the ids of the reference
//! implementation) and fast: pre-tokenization runs on a linear-time regex engine (`split`), and
//! each distinct pre-token is merged once per thread (`pieces`).

mod hugging_face;
mod pieces;
pub mod split;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};
use tiktoken_rs::CoreBPE;

use crate::schema::manifest::TokenizerIdentity;
use hugging_face::FastPipeline;
use split::SplitStage;

/// What `--tokenizer` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSpec {
    /// No tokenizer: provider-reported counts only.
    None,
    /// OpenAI `o200k_base`, embedded in tiktoken-rs.
    O200k,
    /// OpenAI `o200k_harmony` (gpt-oss), embedded in tiktoken-rs.
    O200kHarmony,
    /// A Hugging Face `tokenizer.json` file.
    HuggingFace(PathBuf),
}

impl FromStr for TokenizerSpec {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(match value {
            "none" => TokenizerSpec::None,
            "o200k" | "o200k_base" => TokenizerSpec::O200k,
            "o200k-harmony" | "o200k_harmony" => TokenizerSpec::O200kHarmony,
            path => TokenizerSpec::HuggingFace(PathBuf::from(path)),
        })
    }
}

/// A tokenizer could not be loaded or failed on a text.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// The `tokenizer.json` could not be read.
    #[error("cannot read tokenizer `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `tokenizer.json` could not be parsed.
    #[error("cannot load tokenizer `{}`: {message}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A built-in tokenizer failed to initialize.
    #[error("cannot initialize built-in tokenizer `{name}`: {message}")]
    BuiltIn {
        /// Its name.
        name: &'static str,
        /// Why.
        message: String,
    },
    /// Encoding a text failed.
    #[error("tokenizer failed on a text: {message}")]
    Encode {
        /// Why.
        message: String,
    },
}

/// A loaded tokenizer and its identity.
pub struct Tokenizer {
    engine: Engine,
    identity: TokenizerIdentity,
}

enum Engine {
    HuggingFace {
        tokenizer: Box<tokenizers::Tokenizer>,
        fast: Option<FastPipeline>,
    },
    Tiktoken {
        bpe: CoreBPE,
        stage: Option<SplitStage>,
        namespace: u64,
    },
}

impl Tokenizer {
    /// Loads the tokenizer `spec` names; `None` for `TokenizerSpec::None`.
    pub fn load(spec: &TokenizerSpec) -> Result<Option<Tokenizer>, TokenizerError> {
        match spec {
            TokenizerSpec::None => Ok(None),
            TokenizerSpec::O200k => Self::tiktoken("o200k", tiktoken_rs::o200k_base()).map(Some),
            TokenizerSpec::O200kHarmony => {
                Self::tiktoken("o200k-harmony", tiktoken_rs::o200k_harmony()).map(Some)
            }
            TokenizerSpec::HuggingFace(path) => Self::hugging_face(path).map(Some),
        }
    }

    fn tiktoken(
        name: &'static str,
        built: Result<CoreBPE, impl std::fmt::Display>,
    ) -> Result<Tokenizer, TokenizerError> {
        let bpe = built.map_err(|error| TokenizerError::BuiltIn {
            name,
            message: error.to_string(),
        })?;
        // The embedded vocabulary file is not reachable through tiktoken-rs, so the identity hash
        // covers the rank-to-bytes table it was built from (every rank up to 2^18, which bounds
        // both o200k variants with their special tokens).
        let mut hasher = Sha256::new();
        for rank in 0..(1u32 << 18) {
            if let Ok(bytes) = bpe.decode_bytes(&[rank]) {
                hasher.update(rank.to_le_bytes());
                hasher.update(u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
                hasher.update(&bytes);
            }
        }
        Ok(Tokenizer {
            engine: Engine::Tiktoken {
                bpe,
                stage: SplitStage::new(tiktoken_rs::O200K_BASE_PAT_STR),
                namespace: pieces::new_namespace(),
            },
            identity: TokenizerIdentity {
                name: name.to_owned(),
                kind: "tiktoken".to_owned(),
                sha256: hex::encode(hasher.finalize()),
            },
        })
    }

    fn hugging_face(path: &Path) -> Result<Tokenizer, TokenizerError> {
        let bytes = fs_err::read(path).map_err(|source| TokenizerError::Read {
            path: path.to_owned(),
            source,
        })?;
        let tokenizer =
            tokenizers::Tokenizer::from_bytes(&bytes).map_err(|error| TokenizerError::Load {
                path: path.to_owned(),
                message: error.to_string(),
            })?;
        let fast = FastPipeline::recognize(&bytes, &tokenizer);
        Ok(Tokenizer {
            engine: Engine::HuggingFace {
                tokenizer: Box::new(tokenizer),
                fast,
            },
            identity: TokenizerIdentity {
                name: display_name(path),
                kind: "huggingface".to_owned(),
                sha256: hex::encode(Sha256::digest(&bytes)),
            },
        })
    }

    /// Identity recorded in the manifest and the Parquet metadata.
    pub fn identity(&self) -> &TokenizerIdentity {
        &self.identity
    }

    /// Token ids of `text`, without special tokens added around it. Special-token strings inside
    /// the text are handled as the tokenizer itself does (Hugging Face matches its added tokens;
    /// tiktoken encodes them as ordinary text).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::new();
        if text.is_empty() {
            return Ok(ids);
        }
        let encode_error = |error: tokenizers::Error| TokenizerError::Encode {
            message: error.to_string(),
        };
        match &self.engine {
            Engine::HuggingFace { tokenizer, fast } => {
                let handled = match fast {
                    Some(fast) => fast
                        .encode(tokenizer, text, &mut ids)
                        .map_err(encode_error)?,
                    None => false,
                };
                if !handled {
                    ids = self.reference_encode(text)?;
                }
            }
            Engine::Tiktoken {
                bpe,
                stage: Some(stage),
                namespace,
            } => {
                // A pre-token encoded alone gives the ids it gets inside the text: tiktoken's
                // regex splits it back into itself.
                stage.split(text, &mut |piece| {
                    let _ = pieces::extend_with::<std::convert::Infallible>(
                        *namespace,
                        piece,
                        &mut ids,
                        |piece| Ok(bpe.encode_ordinary(piece)),
                    );
                });
            }
            Engine::Tiktoken {
                bpe, stage: None, ..
            } => ids = bpe.encode_ordinary(text),
        }
        Ok(ids)
    }

    /// The reference implementation's ids for `text` (Hugging Face `encode` without special
    /// tokens, or tiktoken's `encode_ordinary`), bypassing every fast path.
    pub fn reference_encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        match &self.engine {
            Engine::HuggingFace { tokenizer, .. } => tokenizer
                .encode_fast(text, false)
                .map(|encoding| encoding.get_ids().to_vec())
                .map_err(|error| TokenizerError::Encode {
                    message: error.to_string(),
                }),
            Engine::Tiktoken { bpe, .. } => Ok(bpe.encode_ordinary(text)),
        }
    }

    /// Whether the fast path applies to this tokenizer (otherwise every text takes the
    /// reference path).
    pub fn has_fast_path(&self) -> bool {
        match &self.engine {
            Engine::HuggingFace { fast, .. } => fast.is_some(),
            Engine::Tiktoken { stage, .. } => stage.is_some(),
        }
    }
}

/// `parent/file` of a tokenizer path: enough to tell `deepseek-v4/tokenizer.json` from another
/// `tokenizer.json` without recording the machine's directory layout.
fn display_name(path: &Path) -> String {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    let parent = path
        .parent()
        .and_then(Path::file_name)
        .map(|p| p.to_string_lossy().into_owned());
    match (parent, file) {
        (Some(parent), Some(file)) => format!("{parent}/{file}"),
        (None, Some(file)) => file,
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!("none".parse::<TokenizerSpec>(), Ok(TokenizerSpec::None));
        assert_eq!("o200k".parse::<TokenizerSpec>(), Ok(TokenizerSpec::O200k));
        assert_eq!(
            "a/tokenizer.json".parse::<TokenizerSpec>(),
            Ok(TokenizerSpec::HuggingFace("a/tokenizer.json".into()))
        );
    }

    #[test]
    fn o200k_encodes_known_text() {
        let tokenizer = Tokenizer::load(&TokenizerSpec::O200k).unwrap().unwrap();
        // "hello world" is two tokens in o200k_base: `hello` and ` world`.
        assert_eq!(tokenizer.encode("hello world").unwrap().len(), 2);
        assert_eq!(tokenizer.identity().sha256.len(), 64);
    }
}
