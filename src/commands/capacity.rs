//! `trajkit capacity`: AgentPerf's capacity search against a server, step by step on stderr, the
//! result per tier on stdout (and as JSON with `-o`), per accelerator and per megawatt when told
//! the hardware, or per megawatt of the GPU power trajkit samples itself (`--nvml`).

use std::io::Write;

use super::ExitStatus;
use crate::cli::CapacityArgs;

/// Runs `trajkit capacity`.
#[cfg(feature = "replay")]
pub fn run(args: CapacityArgs, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    use anyhow::Context as _;
    use serde_json::json;

    use crate::replay::capacity::Tier;
    use crate::replay::drive::{self, CapacityOptions};
    use crate::replay::power::PowerSampler;
    let CapacityArgs {
        dataset,
        request,
        tiers,
        warmup,
        window,
        max_agents,
        accelerators,
        power_watts,
        power_log,
        nvml,
        nvml_interval_ms,
        output,
    } = args;
    let tiers: Vec<Tier> = tiers
        .iter()
        .map(|text| Tier::parse(text))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let power_log = match &power_log {
        Some(path) => parse_power_log(&fs_err::read_to_string(path)?)
            .with_context(|| format!("power log `{}`", path.display()))?,
        None => Vec::new(),
    };
    let power_sampler = if nvml {
        let source = crate::replay::power::nvml_source().context("--nvml")?;
        let interval = std::time::Duration::from_millis(nvml_interval_ms);
        Some(std::sync::Arc::new(PowerSampler::start(source, interval)))
    } else {
        None
    };
    let options =
        super::replay::request_options(dataset.clone(), request, std::path::PathBuf::new())?;
    let search = CapacityOptions {
        tiers: tiers.clone(),
        warmup,
        window,
        max_agents,
        power_log,
        power_sampler: power_sampler.clone(),
    };
    eprintln!(
        "{:>7}  {:>9}  {:>7}  {:>16}  {:>13}  {:>9}  {:>9}  tiers met",
        "agents", "requests", "failed", "p25 speed tok/s", "p95 TTFT s", "power W", "NVML W"
    );
    let (steps, results, server) = drive::capacity(&options, &search, print_step)?;
    if let Some(sampler) = &power_sampler {
        sampler.stop();
        if let Some(error) = sampler.error() {
            eprintln!("warning: NVML power sampling stopped early: {error}");
        }
    }
    let tier_results = report_tiers(
        &tiers,
        &results,
        &steps,
        max_agents,
        accelerators,
        power_watts,
        out,
    )?;
    if let Some(path) = output {
        let report = json!({
            "report": "trajkit-capacity",
            "report_version": "1",
            "trajkit_version": env!("CARGO_PKG_VERSION"),
            "dataset": dataset.display().to_string(),
            "base_url": options.base_url,
            "model": options.model,
            "output_policy": options.output_policy.name(),
            "tool_delay_policy": options.tool_delay.name(),
            "sampling": options.sampling,
            "warmup_seconds": warmup.as_secs_f64(),
            "window_seconds": window.as_secs_f64(),
            "accelerators": accelerators,
            "nvml_interval_ms": nvml.then_some(nvml_interval_ms),
            "server": server,
            "steps": steps,
            "tiers": tier_results,
        });
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        crate::atomic::write_file(&path, text.as_bytes())
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(ExitStatus::Success)
}

/// One measured step on stderr, as the search goes.
#[cfg(feature = "replay")]
fn print_step(step: &crate::replay::drive::CapacityStep) {
    let measure = &step.measure;
    eprintln!(
        "{:>7}  {:>9}  {:>7}  {:>16}  {:>13}  {:>9}  {:>9}  {}",
        measure.agents,
        measure.requests,
        measure.failed,
        measure
            .p25_output_speed
            .map_or("–".to_owned(), |v| format!("{v:.1}")),
        measure
            .p95_ttft_seconds
            .map_or("–".to_owned(), |v| format!("{v:.2}")),
        measure
            .mean_power_watts
            .map_or("–".to_owned(), |v| format!("{v:.0}")),
        measure
            .measured_power_watts
            .map_or("–".to_owned(), |v| format!("{v:.0}")),
        step.tiers_met.join(" "),
    );
    if let Some(error) = &measure.first_error {
        eprintln!(
            "         first failure: {}",
            error.chars().take(300).collect::<String>()
        );
    }
}

/// Prints each tier's result and returns them as JSON values.
#[cfg(feature = "replay")]
fn report_tiers(
    tiers: &[crate::replay::capacity::Tier],
    results: &[u32],
    steps: &[crate::replay::drive::CapacityStep],
    max_agents: u32,
    accelerators: Option<u32>,
    power_watts: Option<f64>,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<serde_json::Value>> {
    use serde_json::json;
    let mut tier_results = Vec::new();
    for (tier, &agents) in tiers.iter().zip(results) {
        let step = steps.iter().find(|step| step.measure.agents == agents);
        let power = power_watts.or_else(|| step.and_then(|step| step.measure.mean_power_watts));
        let measured_power = step.and_then(|step| step.measure.measured_power_watts);
        let per_accelerator = accelerators.map(|k| f64::from(agents) / f64::from(k));
        let megawatt = |watts: Option<f64>| {
            watts
                .filter(|&w| w > 0.0)
                .map(|w| f64::from(agents) / (w / 1e6))
        };
        let per_megawatt = megawatt(power);
        let per_megawatt_measured = megawatt(measured_power);
        writeln!(
            out,
            "tier {}: {} agents{}{}{}{}",
            tier.name,
            agents,
            if agents >= max_agents {
                " (the --max-agents cap: the server sustains at least this many)"
            } else {
                ""
            },
            per_accelerator.map_or(String::new(), |v| format!(", {v:.2} per accelerator")),
            per_megawatt.map_or(String::new(), |v| format!(", {v:.0} per megawatt")),
            per_megawatt_measured
                .zip(measured_power)
                .map_or(String::new(), |(v, w)| format!(
                    ", {v:.0} per megawatt at the {w:.0} W NVML measured"
                )),
        )?;
        tier_results.push(json!({
            "tier": tier,
            "max_agents": agents,
            "capped": agents >= max_agents,
            "agents_per_accelerator": per_accelerator,
            "agents_per_megawatt": per_megawatt,
            "power_watts": power,
            "measured_power_watts": measured_power,
            "agents_per_megawatt_measured": per_megawatt_measured,
        }));
    }
    Ok(tier_results)
}

/// Runs `trajkit capacity` in a build without the network client.
#[cfg(not(feature = "replay"))]
pub fn run(_args: CapacityArgs, _out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("this trajkit was built without the `replay` feature")
}

/// `UNIX_SECONDS,WATTS` lines (commas or whitespace; `#` comments and a header line skipped).
#[cfg(feature = "replay")]
fn parse_power_log(text: &str) -> anyhow::Result<Vec<(f64, f64)>> {
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|field| !field.is_empty())
            .collect();
        let parsed = match fields.as_slice() {
            [time, watts] => time.parse::<f64>().ok().zip(watts.parse::<f64>().ok()),
            _ => None,
        };
        match parsed {
            Some(sample) => samples.push(sample),
            None if number == 0 => {} // a header
            None => anyhow::bail!(
                "line {}: expected `UNIX_SECONDS,WATTS`, got `{line}`",
                number + 1
            ),
        }
    }
    Ok(samples)
}
