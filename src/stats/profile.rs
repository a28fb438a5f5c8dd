//! Workload profiles: published target figures (AgentPerf's) set beside a dataset's, each
//! deviation flagged. Profiles are declarative JSON files in `profiles/`; the built-in ones are
//! compiled in, and `--profile FILE.json` reads any other of the same shape.

use serde::Deserialize;

use super::metric::Metric;
use super::report::{Figure, GroupReport, ProfileCheck, ProfileCheckRow};

/// Built-in profiles as (name, JSON text).
pub const BUILT_IN: [(&str, &str); 1] =
    [("agentperf", include_str!("../../profiles/agentperf.json"))];

/// A workload profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name.
    pub name: String,
    /// Where the figures come from.
    pub source: String,
    /// The targets.
    pub targets: Vec<Target>,
}

/// One target figure. At least one of `about`, `at_least` and `at_most` is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Metric identifier (see `trajkit stats --format json`, `distributions[].metric`).
    pub metric: String,
    /// `count`, `mean`, `min`, `p5` … `p99` or `max`.
    pub statistic: String,
    /// Expected value, within `tolerance`.
    pub about: Option<f64>,
    /// Relative tolerance of `about` (0.25 = ±25%).
    pub tolerance: Option<f64>,
    /// Lowest acceptable value.
    pub at_least: Option<f64>,
    /// Highest acceptable value.
    pub at_most: Option<f64>,
    /// What the target means.
    pub note: String,
}

/// A profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not a built-in name and not a readable file.
    #[error("no profile `{0}`: give a built-in name (agentperf) or a JSON file")]
    Unknown(String),
    /// Bad JSON or shape.
    #[error("profile `{name}`: {message}")]
    Invalid {
        /// Profile name or path.
        name: String,
        /// What is wrong.
        message: String,
    },
}

const STATISTICS: [&str; 11] = [
    "count", "mean", "min", "p5", "p25", "p50", "p75", "p90", "p95", "p99", "max",
];

impl Profile {
    /// Parses and validates a profile's JSON; `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<Profile, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid {
            name: name.to_owned(),
            message,
        };
        let profile: Profile =
            serde_json::from_str(text).map_err(|error| invalid(error.to_string()))?;
        for (index, target) in profile.targets.iter().enumerate() {
            if Metric::from_id(&target.metric).is_none() {
                return Err(invalid(format!(
                    "target {index}: unknown metric `{}`",
                    target.metric
                )));
            }
            if !STATISTICS.contains(&target.statistic.as_str()) {
                return Err(invalid(format!(
                    "target {index}: unknown statistic `{}` (one of {})",
                    target.statistic,
                    STATISTICS.join(", ")
                )));
            }
            if target.about.is_none() && target.at_least.is_none() && target.at_most.is_none() {
                return Err(invalid(format!(
                    "target {index}: give `about`, `at_least` or `at_most`"
                )));
            }
            if target.about.is_some() != target.tolerance.is_some() {
                return Err(invalid(format!(
                    "target {index}: `about` and `tolerance` go together"
                )));
            }
        }
        Ok(profile)
    }

    /// A built-in profile by name.
    pub fn built_in(name: &str) -> Option<Result<Profile, ProfileError>> {
        BUILT_IN
            .iter()
            .find(|(built_in, _)| *built_in == name)
            .map(|(name, text)| Profile::parse(name, text))
    }

    /// Checks a dataset's figures against the targets.
    pub fn check(&self, report: &GroupReport) -> ProfileCheck {
        let mut checks = Vec::with_capacity(self.targets.len());
        for target in &self.targets {
            let figure = report
                .distribution(&target.metric)
                .and_then(|distribution| distribution.summary.statistic(&target.statistic));
            let mut wanted = Vec::new();
            let mut failures = Vec::new();
            if let (Some(about), Some(tolerance)) = (target.about, target.tolerance) {
                wanted.push(format!("≈{} (±{:.0}%)", number(about), tolerance * 100.0));
                if let Some(value) = figure.map(Figure::value) {
                    let relative = if about == 0.0 {
                        value.abs()
                    } else {
                        (value - about).abs() / about.abs()
                    };
                    if relative > tolerance {
                        failures.push(format!(
                            "{} is {:+.0}% from {}",
                            number(value),
                            (value - about) / about * 100.0,
                            number(about)
                        ));
                    }
                }
            }
            if let Some(at_least) = target.at_least {
                wanted.push(format!("≥{}", number(at_least)));
                if let Some(value) = figure.map(Figure::value).filter(|&value| value < at_least) {
                    failures.push(format!("{} is below {}", number(value), number(at_least)));
                }
            }
            if let Some(at_most) = target.at_most {
                wanted.push(format!("≤{}", number(at_most)));
                if let Some(value) = figure.map(Figure::value).filter(|&value| value > at_most) {
                    failures.push(format!("{} is above {}", number(value), number(at_most)));
                }
            }
            let (status, note) = match (figure, failures.is_empty()) {
                (None, _) => (
                    "missing",
                    format!("the dataset has no such figure; {}", target.note),
                ),
                (Some(_), true) => ("ok", target.note.clone()),
                (Some(_), false) => (
                    "deviates",
                    format!("{}; {}", failures.join("; "), target.note),
                ),
            };
            checks.push(ProfileCheckRow {
                metric: target.metric.clone(),
                statistic: target.statistic.clone(),
                target: wanted.join(", "),
                dataset: figure,
                status: status.to_owned(),
                note,
            });
        }
        let deviations = checks.iter().filter(|row| row.status == "deviates").count() as u64;
        ProfileCheck {
            profile: self.name.clone(),
            source: self.source.clone(),
            checks,
            deviations,
        }
    }
}

fn number(value: f64) -> String {
    if (value.fract() == 0.0 || value.abs() >= 100.0) && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse() {
        for (name, _) in BUILT_IN {
            Profile::built_in(name).unwrap().unwrap();
        }
    }

    #[test]
    fn unknown_keys_and_metrics_are_refused() {
        let error =
            Profile::parse("x", r#"{"name":"x","source":"","targets":[],"extra":1}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `extra`"),
            "{error}"
        );
        let error = Profile::parse(
            "x",
            r#"{"name":"x","source":"","targets":[{"metric":"nope","statistic":"mean","at_most":1,"note":""}]}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown metric `nope`"),
            "{error}"
        );
    }
}
