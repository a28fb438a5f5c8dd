//! `trajkit replay`: resolves the flags (the API key from the environment only), runs the
//! replay driver, and prints a one-paragraph summary of the run.

use std::io::Write;
#[cfg(feature = "replay")]
use std::path::PathBuf;

use super::ExitStatus;
use crate::cli::ReplayArgs;
#[cfg(feature = "replay")]
use crate::cli::RequestArgs;

/// Runs `trajkit replay`.
#[cfg(feature = "replay")]
pub fn run(args: ReplayArgs, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    use std::io::IsTerminal as _;

    use crate::replay::drive;
    let ReplayArgs {
        dataset,
        request,
        output,
        force,
        agents,
        duration,
        quiet,
    } = args;
    let mut options = request_options(dataset, request, output.clone())?;
    options.force = force;
    options.agents = agents;
    options.duration = duration;
    let bounded_by_time = duration.is_some();
    options.progress = !quiet && std::io::stderr().is_terminal();
    let manifest = drive::replay(options)?;
    writeln!(
        out,
        "replayed {} requests of {} sessions ({} failed) against {} into `{}`{}",
        manifest.requests,
        manifest.dataset.sessions,
        manifest.failed_requests,
        manifest.base_url,
        output.display(),
        manifest
            .incomplete_reason
            .as_ref()
            .map_or_else(String::new, |reason| format!("; incomplete: {reason}"))
    )?;
    // Stopping at --duration is what was asked for: the record still says which turns were not
    // reached, but only failed requests or an interruption make the run a failure.
    let ctrl_c = manifest
        .incomplete_reason
        .as_deref()
        .is_some_and(|reason| reason.starts_with("interrupted"));
    let interrupted = !manifest.complete && (ctrl_c || !bounded_by_time);
    Ok(if manifest.failed_requests > 0 || interrupted {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// Runs `trajkit replay` in a build without the network client.
#[cfg(not(feature = "replay"))]
pub fn run(_args: ReplayArgs, _out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("this trajkit was built without the `replay` feature")
}

/// The replay options common to `replay` and `capacity`, from their shared flags.
#[cfg(feature = "replay")]
pub fn request_options(
    dataset: PathBuf,
    request: RequestArgs,
    output: PathBuf,
) -> anyhow::Result<crate::replay::drive::ReplayOptions> {
    use anyhow::Context as _;
    use serde_json::{Map, Value};

    use crate::replay::drive::ReplayOptions;
    use crate::replay::request::{OutputPolicy, ToolDelayPolicy};
    let RequestArgs {
        base_url,
        model,
        output_policy,
        tool_delay,
        temperature,
        top_p,
        seed,
        logprobs,
        max_tokens,
        salt,
        api_key_env,
        request_timeout,
        idle_timeout,
        sessions,
    } = request;
    let output_policy = OutputPolicy::parse(&output_policy).map_err(anyhow::Error::msg)?;
    let tool_delay = ToolDelayPolicy::parse(&tool_delay).map_err(anyhow::Error::msg)?;
    let mut sampling = Map::new();
    if let Some(temperature) = temperature {
        sampling.insert("temperature".to_owned(), Value::from(temperature));
    }
    if let Some(top_p) = top_p {
        sampling.insert("top_p".to_owned(), Value::from(top_p));
    }
    if let Some(seed) = seed {
        sampling.insert("seed".to_owned(), Value::from(seed));
    }
    if let Some(alternatives) = logprobs {
        sampling.insert("logprobs".to_owned(), Value::Bool(true));
        sampling.insert("top_logprobs".to_owned(), Value::from(alternatives));
    }
    let salt = match salt.as_str() {
        "none" => None,
        "auto" => Some(fresh_salt()),
        text => Some(text.to_owned()),
    };
    let api_key = match api_key_env {
        Some(name) => Some(std::env::var(&name).with_context(|| {
            format!("--api-key-env {name}: the environment variable `{name}` is not set")
        })?),
        None => None,
    };
    let seconds = |value: f64, flag: &str| {
        std::time::Duration::try_from_secs_f64(value)
            .ok()
            .filter(|duration| !duration.is_zero())
            .with_context(|| format!("{flag} must be a positive number of seconds"))
    };
    Ok(ReplayOptions {
        dataset,
        base_url,
        model,
        output,
        force: false,
        agents: 1,
        sessions,
        duration: None,
        output_policy,
        max_tokens,
        tool_delay,
        sampling,
        salt,
        api_key,
        request_timeout: seconds(request_timeout, "--request-timeout")?,
        idle_timeout: seconds(idle_timeout, "--idle-timeout")?,
        progress: false,
        cycle: false,
    })
}

/// A marker unique to this run: the time and process id, hashed.
#[cfg(feature = "replay")]
fn fresh_salt() -> String {
    use sha2::Digest as _;
    let now = jiff::Timestamp::now();
    let seed = format!("{}:{}", now.as_nanosecond(), std::process::id());
    let digest = sha2::Sha256::digest(seed.as_bytes());
    format!("[trajkit run {}]", hex::encode(&digest[..8]))
}
