//! Verification profiles: which metrics are gated, the margin, α, the sample-size floor and the
//! guardrail bounds. Profiles are declarative JSON files in `verifiers/` (unknown keys are an
//! error, so a typo cannot silently loosen a gate); the built-in ones are compiled in, and
//! `--profile FILE.json` reads any other of the same shape.

use serde::{Deserialize, Serialize};

use super::metrics::Metric;

/// Built-in profiles as (name, JSON text).
pub const BUILT_IN: [(&str, &str); 3] = [
    ("standard", include_str!("../../verifiers/standard.json")),
    ("strict", include_str!("../../verifiers/strict.json")),
    ("greedy", include_str!("../../verifiers/greedy.json")),
];

/// A verification profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name.
    pub name: String,
    /// What the profile is for.
    pub description: String,
    /// Gated metrics (see `Metric`): each must pass the non-inferiority test.
    pub gated: Vec<String>,
    /// One-sided significance level of each gated test.
    pub alpha: f64,
    /// Power used for the minimum detectable effect, MDE = (t(1-α) + t(power))·SE.
    pub power: f64,
    /// Margin as a fraction of the mean reference↔reference agreement (0.03 = the candidate
    /// must keep 97% of the references' self-agreement).
    pub margin_fraction: f64,
    /// Fewest scored sessions for a verdict other than UNDERPOWERED.
    pub min_sessions: u64,
    /// Fewest scored turns for a verdict other than UNDERPOWERED.
    pub min_turns: u64,
    /// Cluster-bootstrap resamples (0: t bound only).
    pub bootstrap_resamples: u32,
    /// Seed of the bootstrap.
    pub bootstrap_seed: u64,
    /// Bounds of candidate/reference total output length.
    pub length_ratio_bounds: [f64; 2],
    /// How far (as a fraction, 0.01 = 1 point) the candidate's truncation, empty-output,
    /// invalid-argument and special-token rates may exceed the worst reference's.
    pub rate_tolerance: f64,
    /// Largest logprob gap (nats) of a near tie at the first divergence.
    pub near_tie_gap: f64,
    /// Count a divergence at a near tie as agreement for `exact` and `lcp_frac`.
    pub near_tie_tolerated: bool,
    /// The sampling temperature the runs must have been made at, when the profile needs one.
    pub required_temperature: Option<f64>,
    /// Token strings that must not appear in output text (end of sequence, template markers).
    pub special_tokens: Vec<String>,
    /// Worst turns listed in the report.
    pub worst_turns: usize,
}

/// A profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not a built-in name and not a readable file.
    #[error(
        "no verification profile `{0}`: give a built-in name (standard, strict, greedy) or a JSON file"
    )]
    Unknown(String),
    /// Bad JSON, shape or values.
    #[error("verification profile `{name}`: {message}")]
    Invalid {
        /// Profile name or path.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl Profile {
    /// A built-in profile by name.
    pub fn built_in(name: &str) -> Option<Result<Profile, ProfileError>> {
        BUILT_IN
            .iter()
            .find(|(built_in, _)| *built_in == name)
            .map(|(_, text)| Profile::parse(name, text))
    }

    /// Parses and validates a profile.
    pub fn parse(name: &str, text: &str) -> Result<Profile, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid {
            name: name.to_owned(),
            message,
        };
        let profile: Profile = serde_json::from_str(text)
            .map_err(|error| invalid(format!("line {}: {error}", error.line())))?;
        if profile.gated.is_empty() {
            return Err(invalid("`gated` names no metric".to_owned()));
        }
        for metric in &profile.gated {
            if Metric::parse(metric).is_none() {
                return Err(invalid(format!(
                    "`gated` names `{metric}`, not one of {}",
                    Metric::ALL.map(Metric::name).join(", ")
                )));
            }
        }
        let in_open_unit = |value: f64| value > 0.0 && value < 1.0;
        if !in_open_unit(profile.alpha) || !in_open_unit(profile.power) {
            return Err(invalid(
                "`alpha` and `power` must lie strictly between 0 and 1".to_owned(),
            ));
        }
        if !(profile.margin_fraction >= 0.0 && profile.margin_fraction < 1.0) {
            return Err(invalid("`margin_fraction` must lie in [0, 1)".to_owned()));
        }
        let [low, high] = profile.length_ratio_bounds;
        if !(low > 0.0 && low <= 1.0 && high >= 1.0 && high.is_finite()) {
            return Err(invalid(
                "`length_ratio_bounds` must be [low <= 1, high >= 1], both positive".to_owned(),
            ));
        }
        if !(profile.rate_tolerance >= 0.0 && profile.near_tie_gap >= 0.0) {
            return Err(invalid(
                "`rate_tolerance` and `near_tie_gap` must not be negative".to_owned(),
            ));
        }
        Ok(profile)
    }

    /// The gated metrics, in report order.
    pub fn gated_metrics(&self) -> Vec<Metric> {
        Metric::ALL
            .into_iter()
            .filter(|metric| self.gated.iter().any(|name| name == metric.name()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse() {
        for (name, _) in BUILT_IN {
            let profile = Profile::built_in(name)
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("profile {name} does not parse"));
            assert_eq!(profile.name, name);
        }
    }

    #[test]
    fn unknown_keys_and_metrics_are_rejected() {
        let text = include_str!("../../verifiers/standard.json");
        let with_typo = text.replacen("\"alpha\"", "\"alpah\"", 1);
        assert!(Profile::parse("typo", &with_typo).is_err());
        let unknown_metric = text.replacen("\"text_chrf\"", "\"bleu\"", 1);
        assert!(Profile::parse("metric", &unknown_metric).is_err());
    }
}
