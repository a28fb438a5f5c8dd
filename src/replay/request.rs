//! Building the body of each teacher-forced request: the turn's recorded context (never the live
//! answers), the run's salt, the output-length policy and the sampling parameters exactly as the
//! run manifest records them. Pure: the driver sends what this returns.

use serde_json::{Map, Value, json};

/// How long each output may be (as aa-agentperf-local's policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputPolicy {
    /// Generate exactly the recorded length: `ignore_eos` with `max_tokens` = recorded length.
    Exact,
    /// Let the model stop itself, capped at the recorded length.
    Recorded,
    /// Generate exactly N tokens (`ignore_eos`, `max_tokens` = N).
    Fixed(u64),
}

impl OutputPolicy {
    /// Parses `exact`, `recorded` or `fixed:N`.
    pub fn parse(text: &str) -> Result<OutputPolicy, String> {
        match text {
            "exact" => Ok(OutputPolicy::Exact),
            "recorded" => Ok(OutputPolicy::Recorded),
            _ => {
                let count = text
                    .strip_prefix("fixed:")
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        format!("`{text}` is not an output policy: exact, recorded or fixed:N")
                    })?;
                Ok(OutputPolicy::Fixed(count))
            }
        }
    }

    /// The name recorded in the run manifest.
    pub fn name(self) -> String {
        match self {
            OutputPolicy::Exact => "exact".to_owned(),
            OutputPolicy::Recorded => "recorded".to_owned(),
            OutputPolicy::Fixed(count) => format!("fixed:{count}"),
        }
    }

    /// `(max_tokens, ignore_eos, target)` for a turn whose recorded output length is `recorded`;
    /// `cap` is `--max-tokens`, applied to every policy and used alone when the turn has no
    /// recorded length.
    pub fn limits(
        self,
        recorded: Option<u64>,
        cap: Option<u64>,
    ) -> (Option<u64>, bool, Option<u64>) {
        let capped = |n: u64| Some(cap.map_or(n, |cap| n.min(cap)));
        match (self, recorded) {
            (OutputPolicy::Exact, Some(n)) => (capped(n.max(1)), true, capped(n.max(1))),
            (OutputPolicy::Recorded, Some(n)) => (capped(n.max(1)), false, None),
            (OutputPolicy::Fixed(n), _) => (capped(n), true, capped(n)),
            (OutputPolicy::Exact | OutputPolicy::Recorded, None) => (cap, false, None),
        }
    }
}

/// How long simulated tools take between an agent's turns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToolDelayPolicy {
    /// The recorded delay.
    Recorded,
    /// No delay.
    None,
    /// The recorded delay times X.
    Scale(f64),
    /// The recorded delay, at most MS.
    Cap(f64),
}

impl ToolDelayPolicy {
    /// Parses `recorded`, `none`, `scale:X` or `cap:MS`.
    pub fn parse(text: &str) -> Result<ToolDelayPolicy, String> {
        let number = |rest: &str| {
            rest.parse::<f64>()
                .ok()
                .filter(|value| value.is_finite() && *value >= 0.0)
        };
        let policy = match text {
            "recorded" => Some(ToolDelayPolicy::Recorded),
            "none" => Some(ToolDelayPolicy::None),
            _ => text
                .strip_prefix("scale:")
                .and_then(number)
                .map(ToolDelayPolicy::Scale)
                .or_else(|| {
                    text.strip_prefix("cap:")
                        .and_then(number)
                        .map(ToolDelayPolicy::Cap)
                }),
        };
        policy.ok_or_else(|| {
            format!("`{text}` is not a tool-delay policy: recorded, none, scale:X or cap:MS")
        })
    }

    /// The name recorded in the run manifest.
    pub fn name(self) -> String {
        match self {
            ToolDelayPolicy::Recorded => "recorded".to_owned(),
            ToolDelayPolicy::None => "none".to_owned(),
            ToolDelayPolicy::Scale(factor) => format!("scale:{factor}"),
            ToolDelayPolicy::Cap(ms) => format!("cap:{ms}"),
        }
    }

    /// The delay in ms to wait after a turn whose recorded delay is `recorded_ms`.
    pub fn delay_ms(self, recorded_ms: Option<f64>) -> f64 {
        let recorded = recorded_ms
            .filter(|ms| ms.is_finite())
            .unwrap_or(0.0)
            .max(0.0);
        match self {
            ToolDelayPolicy::Recorded => recorded,
            ToolDelayPolicy::None => 0.0,
            ToolDelayPolicy::Scale(factor) => recorded * factor,
            ToolDelayPolicy::Cap(ms) => recorded.min(ms),
        }
    }
}

/// Puts `salt` before the first message's text: a string content gets `salt\n` prepended; a list
/// of parts gets a text part first; a message without content gets the salt as content.
pub fn salt_messages(messages: &mut [Value], salt: &str) {
    let Some(first) = messages.first_mut().and_then(Value::as_object_mut) else {
        return;
    };
    match first.get_mut("content") {
        Some(Value::String(text)) => {
            text.insert_str(0, &format!("{salt}\n"));
        }
        Some(Value::Array(parts)) => {
            parts.insert(0, json!({"type": "text", "text": format!("{salt}\n")}));
        }
        _ => {
            first.insert("content".to_owned(), Value::String(salt.to_owned()));
        }
    }
}

/// The seed one request sends: derived from the run's `--seed`, the session and the turn, so that
/// the turns of a run are independent draws (one seed for every request makes a server such as
/// llama.cpp, which seeds a fresh sampler per request, draw the same random numbers on every turn)
/// and a run remains reproducible. XXH3-64 of the session id's bytes and the turn index (4 bytes,
/// little-endian) seeded with the run seed, kept to 31 bits so that every server accepts it.
pub fn request_seed(run_seed: i64, session_id: &str, turn_index: u32) -> i64 {
    let mut bytes = Vec::with_capacity(session_id.len() + 4);
    bytes.extend_from_slice(session_id.as_bytes());
    bytes.extend_from_slice(&turn_index.to_le_bytes());
    #[allow(clippy::cast_sign_loss, reason = "the run seed's bits seed the hash")]
    let hash = xxhash_rust::xxh3::xxh3_64_with_seed(&bytes, run_seed as u64);
    i64::try_from(hash & 0x7FFF_FFFF).unwrap_or_default()
}

/// The body of one streaming chat-completions request.
pub fn body(
    model: &str,
    messages: Vec<Value>,
    tools: Vec<Value>,
    sampling: &Map<String, Value>,
    max_tokens: Option<u64>,
    ignore_eos: bool,
) -> Value {
    let mut body = Map::new();
    body.insert("model".to_owned(), Value::String(model.to_owned()));
    body.insert("messages".to_owned(), Value::Array(messages));
    if !tools.is_empty() {
        body.insert("tools".to_owned(), Value::Array(tools));
    }
    body.insert("stream".to_owned(), Value::Bool(true));
    body.insert("stream_options".to_owned(), json!({"include_usage": true}));
    if let Some(max_tokens) = max_tokens {
        body.insert("max_tokens".to_owned(), Value::from(max_tokens));
    }
    if ignore_eos {
        body.insert("ignore_eos".to_owned(), Value::Bool(true));
    }
    for (key, value) in sampling {
        body.insert(key.clone(), value.clone());
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_seeds_differ_by_turn_and_session_and_repeat_by_run_seed() {
        let a = request_seed(7, "s1", 0);
        assert_eq!(a, request_seed(7, "s1", 0));
        assert_ne!(a, request_seed(7, "s1", 1));
        assert_ne!(a, request_seed(7, "s2", 0));
        assert_ne!(a, request_seed(8, "s1", 0));
        assert!((0..=0x7FFF_FFFF).contains(&a));
    }

    #[test]
    fn policies_parse_and_set_the_limits() {
        assert_eq!(OutputPolicy::parse("exact"), Ok(OutputPolicy::Exact));
        assert_eq!(OutputPolicy::parse("fixed:64"), Ok(OutputPolicy::Fixed(64)));
        assert!(OutputPolicy::parse("fixed:0").is_err());
        assert!(OutputPolicy::parse("lots").is_err());
        assert_eq!(
            OutputPolicy::Exact.limits(Some(150), None),
            (Some(150), true, Some(150))
        );
        assert_eq!(
            OutputPolicy::Exact.limits(Some(150), Some(100)),
            (Some(100), true, Some(100))
        );
        assert_eq!(
            OutputPolicy::Recorded.limits(Some(150), None),
            (Some(150), false, None)
        );
        assert_eq!(
            OutputPolicy::Fixed(8).limits(Some(150), None),
            (Some(8), true, Some(8))
        );
        assert_eq!(
            OutputPolicy::Exact.limits(None, Some(32)),
            (Some(32), false, None)
        );
        assert_eq!(
            ToolDelayPolicy::parse("cap:500"),
            Ok(ToolDelayPolicy::Cap(500.0))
        );
        assert!(ToolDelayPolicy::parse("scale:-1").is_err());
        assert!((ToolDelayPolicy::Scale(0.5).delay_ms(Some(3000.0)) - 1500.0).abs() < 1e-9);
        assert!((ToolDelayPolicy::Cap(500.0).delay_ms(Some(3000.0)) - 500.0).abs() < 1e-9);
        assert!(ToolDelayPolicy::Recorded.delay_ms(None).abs() < 1e-9);
    }

    #[test]
    fn the_salt_goes_before_the_first_message_text() {
        let mut messages = vec![
            json!({"role": "system", "content": "You are a coder."}),
            json!({"role": "user", "content": "hi"}),
        ];
        salt_messages(&mut messages, "[run 1a2b]");
        assert_eq!(messages[0]["content"], "[run 1a2b]\nYou are a coder.");
        assert_eq!(messages[1]["content"], "hi");
        let mut parts = vec![json!({"role": "user", "content": [{"type": "text", "text": "x"}]})];
        salt_messages(&mut parts, "S");
        assert_eq!(parts[0]["content"][0]["text"], "S\n");
        assert_eq!(parts[0]["content"][1]["text"], "x");
    }

    #[test]
    fn the_body_streams_with_usage_and_carries_the_sampling_as_given() {
        let mut sampling = Map::new();
        sampling.insert("temperature".to_owned(), json!(0.7));
        sampling.insert("seed".to_owned(), json!(3));
        let value = body(
            "m",
            vec![json!({"role": "user", "content": "hi"})],
            vec![],
            &sampling,
            Some(5),
            true,
        );
        assert_eq!(value["stream"], true);
        assert_eq!(value["stream_options"]["include_usage"], true);
        assert_eq!(value["max_tokens"], 5);
        assert_eq!(value["ignore_eos"], true);
        assert_eq!(value["temperature"], 0.7);
        assert_eq!(value["seed"], 3);
        assert!(value.get("tools").is_none());
    }
}
