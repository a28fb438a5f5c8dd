//! The command line: clap derive only. Every flag is defined once here; `commands` turns each
//! `<Name>Args` into the library's options and never sees clap types beyond this file.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};

use crate::formats::SourceFormat;
use crate::stats::GroupBy;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (rejected records, if any, are reported on stderr and in the manifest)
  1  the command ran and found failures
  2  usage, input/output or parse error (a rejected record under --strict)";

/// trajkit: real coding-agent trajectories in, benchmark workloads out.
#[derive(Debug, Parser)]
#[command(name = "trajkit", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read raw agent logs into a trajectory dataset (Parquet + manifest).
    Ingest(IngestArgs),
    /// Print a dataset summary, a session's turns, or one turn's request and output.
    Show(ShowArgs),
    /// Report what a dataset's workload looks like: distributions, context growth, KV reuse.
    Stats(StatsArgs),
    /// Replay a dataset against an OpenAI-compatible server, teacher-forced, recording what it
    /// serves and when.
    Replay(ReplayArgs),
    /// Find the most concurrent agents a server sustains under service tiers (AgentPerf's
    /// search), per accelerator and per megawatt.
    Capacity(CapacityArgs),
    /// Write or check the generated files of `schemas/`.
    Schemas(SchemasArgs),
    /// List the raw log formats `ingest` reads and what each one provides.
    Formats(FormatsArgs),
    /// Decide whether a candidate run served the references' model: per-turn agreement against
    /// the references' own noise floor, a clustered non-inferiority test, and guardrails.
    Verify(VerifyArgs),
}

/// Arguments of `trajkit verify`.
#[derive(Debug, Args)]
#[command(after_help = "\
Exit codes:
  0  PASS
  1  FAIL (reasons: DEGRADED, UNDERPOWERED, GUARDRAIL:<name>)
  2  invalid input: unreadable files, turn sets that do not match the dataset, runs made with
     different prompts or sampling (config lock); no verdict

Runs are `trajkit replay` run directories (run.json + requests.jsonl) or plain JSON-lines files of
{session_id, turn_index, content, reasoning?, tool_calls?, finish_reason, output_tokens,
logprobs?}. Give two or more reference runs (three recommended): their agreement with each other
is the noise floor the candidate is held to. Profiles: standard, strict, greedy, or a JSON file
(see verifiers/); the method is in docs/verify.md.

Examples:
  trajkit verify --dataset d.trajkit --reference ref1 ref2 ref3 --candidate fast
  trajkit verify --dataset d.trajkit --reference ref1 --reference ref2 --candidate out.jsonl \\
      --profile strict --format html -o verify.html")]
pub struct VerifyArgs {
    /// Dataset directory the runs replayed.
    #[arg(long, value_name = "DATASET")]
    pub dataset: PathBuf,

    /// Reference runs (repeat the flag or list several).
    #[arg(long = "reference", required = true, num_args = 1.., value_name = "RUN")]
    pub references: Vec<PathBuf>,

    /// The run to verify.
    #[arg(long, value_name = "RUN")]
    pub candidate: PathBuf,

    /// Verification profile: `standard`, `strict`, `greedy`, or a JSON file of the same shape.
    #[arg(long, default_value = "standard", value_name = "NAME|FILE")]
    pub profile: String,

    /// Report format.
    #[arg(long, default_value = "table", value_parser = PossibleValuesParser::new(["table", "json", "markdown", "html"]))]
    pub format: String,

    /// Write the report to this file (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn format_names() -> Vec<&'static str> {
    std::iter::once("auto")
        .chain(SourceFormat::ALL.iter().map(|format| format.name()))
        .collect()
}

/// Arguments of `trajkit ingest`.
#[derive(Debug, Args)]
#[command(after_help = format!("{EXIT_CODES}\n\n\
Examples:
  trajkit ingest datasets/mini-swe-agent-sample -o sample.trajkit
  trajkit ingest runs/ --tokenizer deepseek-v4/tokenizer.json -o runs.trajkit --force
  trajkit ingest chats.jsonl --format openai-jsonl --tokenizer none -o chats.trajkit"))]
pub struct IngestArgs {
    /// Raw log files, or directories searched recursively (hidden entries are skipped).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Dataset directory to create; written atomically (a temporary directory renamed at the end).
    #[arg(short, long, value_name = "DATASET")]
    pub output: PathBuf,

    /// Raw format of every input, or `auto` to detect each file's from its name and first bytes.
    /// Files under directories that are not recognized are skipped and listed in the manifest.
    #[arg(long, default_value = "auto", value_parser = PossibleValuesParser::new(format_names()))]
    pub format: String,

    /// Tokenizer for counted tokens and block hashes: a Hugging Face `tokenizer.json` path,
    /// `o200k` or `o200k-harmony` (built in), or `none` (provider-reported counts only).
    #[arg(long, default_value = "o200k", value_name = "TOKENIZER")]
    pub tokenizer: String,

    /// Dataset name recorded in the manifest [default: the output directory's name].
    #[arg(long)]
    pub name: Option<String>,

    /// Abort on the first bad record (exit 2) instead of skipping, counting and listing it.
    #[arg(long)]
    pub strict: bool,

    /// Replace an existing dataset at the output path (never a directory that is not a dataset).
    #[arg(long)]
    pub force: bool,

    /// Tokens per prefix-hash block; keep the default 16 so 64- and 512-token ids can be derived.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub block_size: u16,

    /// Worker threads [default: one per core, or `RAYON_NUM_THREADS`].
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,

    /// Do not draw a progress bar (it is only drawn when stderr is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Arguments of `trajkit show`.
#[derive(Debug, Args)]
#[command(after_help = format!("{EXIT_CODES}\n\n\
Examples:
  trajkit show sample.trajkit
  trajkit show sample.trajkit --session django__django-11099
  trajkit show sample.trajkit --session django__django-11099 --turn 3 --json"))]
pub struct ShowArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// Session to show; without it, a summary of the whole dataset.
    #[arg(long)]
    pub session: Option<String>,

    /// Turn (0-based) of the session to show: its request and its output.
    #[arg(long)]
    pub turn: Option<usize>,

    /// Print JSON: for a turn, `{"messages": [...], "tools": [...], "output": {...}}` with messages
    /// exactly as logged (OpenAI chat form, vendor keys kept); otherwise the summary or the
    /// session's turn rows.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `trajkit schemas`.
#[derive(Debug, Args)]
pub struct SchemasArgs {
    /// Directory of the generated files.
    #[arg(long, default_value = "schemas")]
    pub dir: PathBuf,

    /// Check that the files are up to date instead of writing them (exit 1 when stale).
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `trajkit formats`.
#[derive(Debug, Args)]
pub struct FormatsArgs {
    /// Print JSON: an array of `{name, producer, files, context, reported_counts, timing,
    /// line_oriented}`.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `trajkit stats`.
#[derive(Debug, Args)]
#[command(after_help = format!("{EXIT_CODES}\n\n\
Percentiles are nearest-rank (the ceil(q*n)-th smallest value, as DuckDB's quantile_disc), exact
for any number of turns. Token figures are provider-reported where logged, else counted with the
dataset's tokenizer; each metric's exact definition is in the JSON report.

Examples:
  trajkit stats sample.trajkit
  trajkit stats sample.trajkit --by model --format markdown -o stats.md
  trajkit stats sample.trajkit --profile agentperf --format html -o report.html
  trajkit stats sample.trajkit --kv-capacity 100K,1M,10M --agents 32
  trajkit stats new.trajkit --compare old.trajkit"))]
pub struct StatsArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// Also report per group: `source` (log format), `model` (per turn), `agent`, `language`
    /// (session metadata, else the source files its messages name most), or
    /// `session-length-bucket`.
    #[arg(long, value_parser = PossibleValuesParser::new(GroupBy::ALL.map(GroupBy::name)))]
    pub by: Option<String>,

    /// Report format.
    #[arg(long, default_value = "table", value_parser = PossibleValuesParser::new(["table", "json", "markdown", "html"]))]
    pub format: String,

    /// Write the report to this file (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Set a published workload profile beside the dataset and flag deviations: `agentperf`, or
    /// a JSON file of the same shape (see `profiles/agentperf.json`).
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,

    /// A second dataset to put side by side, with differences (B − A).
    #[arg(long, value_name = "DATASET")]
    pub compare: Option<PathBuf>,

    /// Simulate a shared LRU block cache of this many tokens (comma-separated for a curve;
    /// K and M suffixes allowed) with `--agents` sessions running concurrently.
    #[arg(long, value_name = "TOKENS[,TOKENS…]", value_delimiter = ',', value_parser = parse_token_count)]
    pub kv_capacity: Vec<u64>,

    /// Concurrent agents of the cache simulation; each works through sessions in dataset order.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub agents: u32,

    /// Tokens per block of the cache simulation [default: the dataset's block size, or the
    /// largest block size of its sizes-only traces].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub kv_block_size: Option<u32>,

    /// Skip block-level reuse (reading the hash ids): faster on very large datasets.
    #[arg(long)]
    pub no_block_hits: bool,
}

fn parse_token_count(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().last() {
        Some((index, 'k' | 'K')) => (&text[..index], 1_000),
        Some((index, 'm' | 'M')) => (&text[..index], 1_000_000),
        Some((index, 'g' | 'G')) => (&text[..index], 1_000_000_000),
        _ => (text, 1),
    };
    let value: f64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a token count (e.g. 65536, 100K, 1.5M)"))?;
    if !(value.is_finite() && value >= 1.0) {
        return Err(format!("`{text}` is not a positive token count"));
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked positive and finite; token counts are far below 2^64"
    )]
    Ok((value * f64::from(multiplier)).round() as u64)
}

/// How requests are made: the server, the model, and what each request asks for. Shared by
/// `replay` and `capacity`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Base URL of the server's OpenAI-compatible API (e.g. `http://127.0.0.1:8080/v1`).
    #[arg(long, value_name = "URL")]
    pub base_url: String,

    /// Model name sent in every request.
    #[arg(long)]
    pub model: String,

    /// Output length: `exact` (`ignore_eos`, `max_tokens` = recorded length; checked at start),
    /// `recorded` (the model stops itself, capped at the recorded length), or `fixed:N`.
    #[arg(long, default_value = "exact")]
    pub output_policy: String,

    /// Tool time between an agent's turns: `recorded`, `none`, `scale:X` or `cap:MS`.
    #[arg(long, default_value = "recorded")]
    pub tool_delay: String,

    /// Sampling temperature, sent as given.
    #[arg(long)]
    pub temperature: Option<f64>,

    /// Nucleus sampling, sent as given.
    #[arg(long)]
    pub top_p: Option<f64>,

    /// Sampling seed, sent as given.
    #[arg(long)]
    pub seed: Option<i64>,

    /// Cap on every request's output tokens (and the length of turns without a recorded one).
    #[arg(long)]
    pub max_tokens: Option<u64>,

    /// Marker put before the first message of every request so that no KV cache is reused
    /// across runs: `auto` (a fresh random marker), `none`, or the text to use.
    #[arg(long, default_value = "auto")]
    pub salt: String,

    /// Name of the environment variable holding the API key (never given on the command line,
    /// never recorded).
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,

    /// Deadline of one request, from sending to the end of its stream, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub request_timeout: f64,

    /// Longest silence within a stream before the request is recorded as stalled, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub idle_timeout: f64,

    /// Replay at most this many sessions (the first ones in dataset order).
    #[arg(long)]
    pub sessions: Option<u64>,
}

/// Arguments of `trajkit replay`.
#[derive(Debug, Args)]
#[command(after_help = format!("{EXIT_CODES}\n\n\
Every request carries the turn's recorded context (teacher forcing), never the live answers, so
every system sees identical inputs. Failed requests are recorded with their error and the run
goes on; Ctrl-C writes what was recorded, marked incomplete. The run directory holds run.json
(the configuration lock) and requests.jsonl (one record per request); schemas in `schemas/`.

Examples:
  trajkit replay sample.trajkit --base-url http://127.0.0.1:8080/v1 --model smollm2 -o run1
  trajkit replay sample.trajkit --base-url $URL --model m --agents 8 --duration 10m -o run2 \\
      --output-policy recorded --tool-delay cap:2000 --temperature 1 --seed 7 --api-key-env MY_KEY"))]
pub struct ReplayArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// The server and what each request asks for.
    #[command(flatten)]
    pub request: RequestArgs,

    /// Run directory to write (atomically, at the end).
    #[arg(short, long, value_name = "RUN")]
    pub output: PathBuf,

    /// Replace an existing run directory.
    #[arg(long)]
    pub force: bool,

    /// Simulated agents working concurrently, each through whole sessions in dataset order.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub agents: u32,

    /// Stop starting requests after this long (`90s`, `10m`, `1h`).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,

    /// Do not draw a progress bar (it is only drawn when stderr is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Arguments of `trajkit capacity`.
#[derive(Debug, Args)]
#[command(after_help = format!("{EXIT_CODES}\n\n\
Per tier, AgentPerf's search: an exponential ramp of concurrent agents (1, 2, 4, …), then a
binary search for the largest count whose steady-state window (every agent active for at least
--warmup) has P25 output speed >= SPEED tokens/s and P95 time to first token <= TTFT seconds, with
no failed request. Output speed of a request = (output tokens - 1) / (end - first token). Each
agent count is measured once and judged against every tier; sessions are replayed in a cycle so
concurrency holds for the whole window.

Examples:
  trajkit capacity sample.trajkit --base-url http://127.0.0.1:8080/v1 --model m --tier 30:15
  trajkit capacity d.trajkit --base-url $URL --model m --tier 20:10 --tier 60:5 --tier 180:3 \\
      --accelerators 8 --power-log watts.csv -o capacity.json"))]
pub struct CapacityArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// The server and what each request asks for.
    #[command(flatten)]
    pub request: RequestArgs,

    /// A service tier `SPEED:TTFT` (tokens/s : seconds); repeat for several.
    #[arg(long = "tier", required = true, value_name = "SPEED:TTFT")]
    pub tiers: Vec<String>,

    /// Time every agent is active before a step's window opens.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub warmup: std::time::Duration,

    /// Length of a step's measured window.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub window: std::time::Duration,

    /// Largest agent count tried.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_agents: u32,

    /// Accelerators serving the model, for agents per accelerator.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub accelerators: Option<u32>,

    /// Measured accelerator power in watts, for agents per megawatt.
    #[arg(long, conflicts_with = "power_log")]
    pub power_watts: Option<f64>,

    /// A power log: lines `UNIX_SECONDS,WATTS` (or whitespace-separated); each step's mean
    /// power over its window gives agents per megawatt.
    #[arg(long, value_name = "FILE")]
    pub power_log: Option<PathBuf>,

    /// Write the search as JSON to this file.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((text, "s"), |at| (&text[..at], &text[at..]));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 90s, 10m, 1h)"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}`: the unit is s, m or h")),
    };
    std::time::Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("`{text}` is not a positive duration"))
}
