//! The command line: clap derive only. Every flag is defined once here; `commands` turns each
//! `<Name>Args` into the library's options and never sees clap types beyond this file.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};

use crate::export::ExportFormat;
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
    /// Keep the sessions, or the turns, that meet every condition (tokens, turns, model, source,
    /// agent, language, task).
    Filter(FilterArgs),
    /// Take a seeded sample of sessions: uniform, or shaped to a workload profile.
    Sample(SampleArgs),
    /// Split sessions into named parts with given fractions (e.g. public tuning / private test).
    Split(SplitArgs),
    /// Concatenate datasets counted with the same tokenizer.
    Merge(MergeArgs),
    /// Fit a dataset to a context window: end sessions at, drop, or cut turns over the limit.
    Truncate(TruncateArgs),
    /// Count every turn again with another tokenizer.
    Retokenize(RetokenizeArgs),
    /// Make a sizes-only copy: counts, timing and hash ids, no text.
    Anonymize(AnonymizeArgs),
    /// Copy a dataset with secrets and personal data replaced by typed, deterministic
    /// placeholders.
    Redact(RedactArgs),
    /// Write or check the generated files of `schemas/`.
    Schemas(SchemasArgs),
    /// List the raw log formats `ingest` reads and what each one provides.
    Formats(FormatsArgs),
    /// Write a dataset in a replay or benchmark tool's format (AA replay, AIPerf, Mooncake, Weka,
    /// vLLM multi-turn, OpenAI JSONL).
    Export(ExportArgs),
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

/// Arguments of `trajkit redact`.
#[derive(Debug, Args)]
#[command(after_help = format!("{EXIT_CODES}\n\n\
Every text field (message contents, fields_json strings, tool-call names and arguments, tool
sets, reasoning, metadata, source paths, ids, and the manifest's paths) is scanned with Gitleaks'
default rules (API keys and tokens of some 200 providers, private keys, JWTs) and trajkit's own
(emails, IPv4/IPv6 addresses, passwords in URLs, secret environment assignments such as
DB_PASSWORD=..., home-directory user names). Each finding becomes [REDACTED:KIND:N], numbered per
kind in order of first appearance; the same value gets the same placeholder everywhere, and a
value of 8 or more characters found once is replaced wherever else it stands alone (user names
only in paths). JSON texts keep their bytes outside the replaced strings. Token counts and hash ids are kept as recorded: they describe the workload as
it was served. Counts per kind go to stderr (and --report); see docs/redact.md.

Examples:
  trajkit redact runs.trajkit -o runs-redacted.trajkit
  trajkit redact runs.trajkit -o runs-redacted.trajkit --report redaction.json --force"))]
pub struct RedactArgs {
    /// Dataset directory to read.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// Dataset directory to create; written atomically (a temporary directory renamed at the end).
    #[arg(short, long, value_name = "DATASET")]
    pub output: PathBuf,

    /// Replace an existing dataset at the output path (never a directory that is not a dataset).
    #[arg(long)]
    pub force: bool,

    /// Also write the counts per kind and per column, and the rules in use, as JSON (atomically).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Dataset name recorded in the manifest [default: the output directory's name].
    #[arg(long)]
    pub name: Option<String>,

    /// Worker threads [default: one per core, or `RAYON_NUM_THREADS`]; the output does not
    /// depend on it.
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,

    /// Print no table of counts and draw no progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Arguments of `trajkit export`.
#[derive(Debug, Args)]
#[command(after_help = format!("{EXIT_CODES}\n\n{}\n\n\
The output directory is written atomically (a temporary directory renamed at the end) and holds
.trajkit-export.json, which says what wrote it. Token targets are reported counts, else counted;
tool delays are the recorded delay after each turn. Text formats refuse sizes-only datasets.
Full field mapping: docs/export.md.

Examples:
  trajkit export sample.trajkit --to aa-replay -o replay
  agentperf-local run replay/manifest.json --base-url http://127.0.0.1:8080/v1 --model m
  trajkit export sample.trajkit --to aiperf --sizes-only -o aiperf --force", export_shapes()))]
pub struct ExportArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// Format to write (shapes below).
    #[arg(long, value_parser = PossibleValuesParser::new(ExportFormat::ALL.map(ExportFormat::name)))]
    pub to: String,

    /// Output directory to create.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,

    /// AIPerf only: write `input_length` and 512-token `hash_ids` instead of the messages.
    #[arg(long)]
    pub sizes_only: bool,

    /// Replace a previous export (or an empty directory) at the output path; any other
    /// directory is never replaced.
    #[arg(long)]
    pub force: bool,
}

fn export_shapes() -> String {
    let lines: Vec<String> = ExportFormat::ALL
        .iter()
        .map(|format| format!("  {:<15} {}", format.name(), format.shape()))
        .collect();
    format!("Formats:\n{}", lines.join("\n"))
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

    /// Sampling seed of the run: each request sends a seed derived from it, the session id and
    /// the turn index (recorded per request), so turns are independent draws and a run repeats.
    #[arg(long)]
    pub seed: Option<i64>,

    /// Ask for every output token's log-probability and its N most likely alternatives (0 to 20),
    /// recorded per request, so that `trajkit verify` can tell near ties from real divergence.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=20))]
    pub logprobs: Option<u8>,

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

    /// Longest silence within a stream, after its first event, before the request is recorded as
    /// stalled, in seconds (the wait for the first event is prefill: only --request-timeout bounds
    /// it).
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

    /// Sample the power of every NVIDIA GPU through NVML during each step (a build with the
    /// `nvml` feature, on the machine running the server): each step's mean measured watts, and
    /// agents per megawatt from them.
    #[arg(long)]
    pub nvml: bool,

    /// Milliseconds between two NVML power samples.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub nvml_interval_ms: u64,

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

/// Where a derived dataset goes (every dataset-to-dataset command).
#[derive(Debug, Args)]
pub struct DerivedOutputArgs {
    /// Dataset directory to create; written atomically (a temporary directory renamed at the end).
    #[arg(short, long, value_name = "DATASET")]
    pub output: PathBuf,

    /// Replace an existing dataset at the output path (never a directory that is not a dataset).
    #[arg(long)]
    pub force: bool,

    /// Dataset name recorded in the manifest [default: the output directory's name].
    #[arg(long)]
    pub name: Option<String>,
}

/// Which token figure a token bound reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenFigureArg {
    /// Provider-reported, else counted with the dataset's tokenizer (what `stats` reports).
    Auto,
    /// Provider-reported only (turns without a reported figure fail every bound).
    Reported,
    /// Counted with the dataset's tokenizer only.
    Counted,
}

/// Arguments of `trajkit filter`.
#[derive(Debug, Args)]
#[command(after_help = format!("\
Session conditions (--min/--max-turns, --source, --agent, --language, --task) keep or drop whole \
sessions. Turn conditions (--min/--max-input-tokens, --min/--max-output-tokens, --model) apply to \
every turn: with --scope session (the default) a session is kept only if all its turns meet them; \
with --scope turn the turns that fail are dropped, each kept turn still sends its full recorded \
request, and the session's prefix-reuse figures and hash-id deltas are restated for the turns \
kept. --min/--max-turns then count the turns kept. A turn whose figure is unknown fails a bound \
on it. Repeated list flags admit any of their values.

{EXIT_CODES}

Examples:
  trajkit filter corpus.trajkit --max-input-tokens 1500 --max-turns 4 -o short.trajkit
  trajkit filter corpus.trajkit --scope turn --max-input-tokens 131072 -o fits.trajkit
  trajkit filter corpus.trajkit --language python --task '^django__' -o django.trajkit"))]
pub struct FilterArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// The output.
    #[command(flatten)]
    pub output: DerivedOutputArgs,

    /// Whether turn conditions decide whole sessions or single turns.
    #[arg(long, value_enum, default_value = "session")]
    pub scope: FilterScopeArg,

    /// Which token figure the token bounds read.
    #[arg(long, value_enum, default_value = "auto")]
    pub tokens: TokenFigureArg,

    /// Smallest input (prompt) tokens of a turn.
    #[arg(long, value_name = "N")]
    pub min_input_tokens: Option<u64>,

    /// Largest input (prompt) tokens of a turn.
    #[arg(long, value_name = "N")]
    pub max_input_tokens: Option<u64>,

    /// Smallest output tokens of a turn.
    #[arg(long, value_name = "N")]
    pub min_output_tokens: Option<u64>,

    /// Largest output tokens of a turn.
    #[arg(long, value_name = "N")]
    pub max_output_tokens: Option<u64>,

    /// Fewest turns of a session.
    #[arg(long, value_name = "N")]
    pub min_turns: Option<u64>,

    /// Most turns of a session.
    #[arg(long, value_name = "N")]
    pub max_turns: Option<u64>,

    /// Model of a turn (its own, else its session's), exactly as stored; repeatable.
    #[arg(long, value_name = "MODEL")]
    pub model: Vec<String>,

    /// Source format of a session (`trajkit formats` names them); repeatable.
    #[arg(long, value_name = "FORMAT")]
    pub source: Vec<String>,

    /// Agent of a session, as stored; repeatable.
    #[arg(long, value_name = "AGENT")]
    pub agent: Vec<String>,

    /// Language of a session as `stats --by language` names it (any case); repeatable.
    #[arg(long, value_name = "LANGUAGE")]
    pub language: Vec<String>,

    /// Regular expression the session's task id must match (anywhere; anchor with ^ and $).
    #[arg(long, value_name = "REGEX")]
    pub task: Option<String>,
}

/// `--scope` of `trajkit filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FilterScopeArg {
    /// A session is kept when all its turns meet the turn conditions.
    Session,
    /// Turns that fail the turn conditions are dropped from their sessions.
    Turn,
}

/// Arguments of `trajkit sample`.
#[derive(Debug, Args)]
#[command(after_help = format!("\
Sessions are taken in the order of a seeded hash of their id, so a sample depends only on the \
seed and the ids (a larger uniform sample holds every smaller one). With --profile, the \
profile's bounds (min ≥, max ≤) exclude sessions and its ≈ targets (mean, percentiles of input \
and output tokens per turn, turns per session) steer the choice: each session added is the best \
of the next 64 in seeded order. The profile check of the input and of the sample is printed \
afterwards, so you see how close the sample got.

{EXIT_CODES}

Examples:
  trajkit sample corpus.trajkit --sessions 100 --seed 7 -o sample.trajkit
  trajkit sample corpus.trajkit --profile agentperf --sessions 200 -o agentperf.trajkit"))]
#[command(group(clap::ArgGroup::new("size").required(true).args(["sessions", "fraction", "turns"])))]
pub struct SampleArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// The output.
    #[command(flatten)]
    pub output: DerivedOutputArgs,

    /// Seed of the session order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Sessions to take.
    #[arg(long, value_name = "N")]
    pub sessions: Option<u64>,

    /// Fraction of the (eligible) sessions to take, in [0, 1].
    #[arg(long, value_name = "F")]
    pub fraction: Option<f64>,

    /// Take sessions until at least this many turns.
    #[arg(long, value_name = "N")]
    pub turns: Option<u64>,

    /// Shape the sample to a profile: `agentperf` (built in) or a profile JSON file (the
    /// shape of `profiles/agentperf.json`).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
}

/// Arguments of `trajkit split`.
#[derive(Debug, Args)]
#[command(after_help = format!("\
Each part becomes a dataset OUTPUT/NAME, and OUTPUT/split.json records the seed, the parts and \
every session's part. Sessions are ranked by a seeded hash of their id and the parts take \
consecutive runs of that order, sized by largest remainder: every part is within one session of \
its fraction. Give --previous OLD/split.json when the dataset has grown: every session the old \
split placed keeps its part, and only new sessions are placed, where parts are short.

{EXIT_CODES}

Examples:
  trajkit split corpus.trajkit --part tuning=0.2 --part test=0.8 --seed 1 -o parts
  trajkit split grown.trajkit --part tuning=0.2 --part test=0.8 --seed 1 \\
      --previous parts/split.json -o parts-v2"))]
pub struct SplitArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// Directory to create for the parts and `split.json`; written atomically.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,

    /// Replace an existing split directory at the output path.
    #[arg(long)]
    pub force: bool,

    /// A part as NAME=FRACTION; at least two; fractions are normalized to sum to 1.
    #[arg(
        long = "part",
        value_name = "NAME=FRACTION",
        required = true,
        num_args = 1
    )]
    pub parts: Vec<String>,

    /// Seed of the hash order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// `split.json` of an earlier split of this dataset: its sessions keep their parts.
    #[arg(long, value_name = "FILE")]
    pub previous: Option<PathBuf>,
}

/// Arguments of `trajkit merge`.
#[derive(Debug, Args)]
#[command(after_help = format!("\
Sessions are written in the order of the inputs, each input in its own order. The inputs must \
have been counted with the same tokenizer and hash block size (retokenize one first otherwise). \
A session id that appears twice is an error unless --skip-duplicates keeps the first.

{EXIT_CODES}

Examples:
  trajkit merge monday.trajkit tuesday.trajkit -o week.trajkit"))]
pub struct MergeArgs {
    /// Dataset directories, two or more.
    #[arg(value_name = "DATASET", required = true, num_args = 2..)]
    pub datasets: Vec<PathBuf>,

    /// The output.
    #[command(flatten)]
    pub output: DerivedOutputArgs,

    /// Keep the first session of a repeated id instead of failing.
    #[arg(long)]
    pub skip_duplicates: bool,
}

/// `--mode` of `trajkit truncate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TruncateModeArg {
    /// The session ends before its first turn over the limit (AgentPerf's reading).
    End,
    /// Only the turns over the limit are dropped.
    Drop,
    /// Turns over the limit lose their oldest messages (after the system and first user
    /// message) until they fit; needs the dataset's tokenizer.
    Cut,
}

/// Arguments of `trajkit truncate`.
#[derive(Debug, Args)]
#[command(after_help = format!("\
AgentPerf says its trajectories are \"truncated to the model's recommended context\"; --mode end \
(the default) reads that as: a session stops where it outgrows the window. --mode cut rewrites \
requests and counts them again with the dataset's tokenizer (or --tokenizer); a cut turn's \
provider-reported input and cache figures are cleared, and its metadata records what was cut.

{EXIT_CODES}

Examples:
  trajkit truncate corpus.trajkit --max-context 131072 -o fit.trajkit
  trajkit truncate corpus.trajkit --max-context 32768 --mode cut -o cut.trajkit"))]
pub struct TruncateArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// The output.
    #[command(flatten)]
    pub output: DerivedOutputArgs,

    /// Largest input of a turn, in tokens.
    #[arg(long, value_name = "TOKENS")]
    pub max_context: u64,

    /// What happens to turns over the limit.
    #[arg(long, value_enum, default_value = "end")]
    pub mode: TruncateModeArg,

    /// Which input figure is compared with the limit (`cut` always uses counted tokens).
    #[arg(long, value_enum, default_value = "auto")]
    pub tokens: TokenFigureArg,

    /// Tokenizer for `--mode cut` [default: the dataset's, as recorded in its manifest].
    #[arg(long, value_name = "TOKENIZER")]
    pub tokenizer: Option<String>,
}

/// Arguments of `trajkit retokenize`.
#[derive(Debug, Args)]
#[command(after_help = format!("\
Every message is counted once with the new tokenizer and every turn's counted figures, reusable \
prefix and block hash ids are derived again, as ingest does; provider-reported figures are kept. \
Retokenizing with the dataset's own tokenizer gives back its counts (a test checks this on every \
real format).

{EXIT_CODES}

Examples:
  trajkit retokenize corpus.trajkit --tokenizer deepseek-v4/tokenizer.json -o corpus-v4.trajkit"))]
pub struct RetokenizeArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// The output.
    #[command(flatten)]
    pub output: DerivedOutputArgs,

    /// The new tokenizer: a Hugging Face `tokenizer.json` path, `o200k`, `o200k-harmony`, or
    /// `none` (drop counted figures and hash ids).
    #[arg(long, value_name = "TOKENIZER")]
    pub tokenizer: String,

    /// Tokens per prefix-hash block.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub block_size: u16,

    /// Worker threads [default: one per core, or `RAYON_NUM_THREADS`].
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
}

/// Arguments of `trajkit anonymize`.
#[derive(Debug, Args)]
#[command(after_help = format!("\
Kept: every token figure, times and delays, finish reasons, model and agent names, turn \
structure and block hash ids. Removed: messages, tool definitions and calls, reasoning, response \
ids, task and repository names (unless --keep-tasks), file paths, per-format metadata, rejected \
records' texts and raw file names in the manifest. Session ids become session-000001, … in \
dataset order unless --keep-session-ids. Hash ids of a prompt anyone can guess (a public agent's \
system prompt) can be recomputed and recognized; they reveal nothing else.

{EXIT_CODES}

Examples:
  trajkit anonymize corpus.trajkit -o corpus-sizes.trajkit"))]
pub struct AnonymizeArgs {
    /// Dataset directory.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// The output.
    #[command(flatten)]
    pub output: DerivedOutputArgs,

    /// Keep session ids (and parent session ids) as they are.
    #[arg(long)]
    pub keep_session_ids: bool,

    /// Keep task ids and repositories (public benchmark instance names).
    #[arg(long)]
    pub keep_tasks: bool,
}
