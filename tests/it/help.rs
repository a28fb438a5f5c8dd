//! Golden `--help` output for every subcommand: the manual is part of the interface.

use crate::util::run_ok;

#[test]
fn help_texts() {
    for command in [
        &[][..],
        &["ingest"],
        &["show"],
        &["stats"],
        &["replay"],
        &["capacity"],
        &["filter"],
        &["sample"],
        &["split"],
        &["merge"],
        &["truncate"],
        &["retokenize"],
        &["anonymize"],
        &["redact"],
        &["schemas"],
        &["formats"],
        &["export"],
        &["verify"],
    ] {
        let mut args: Vec<&str> = command.to_vec();
        args.push("--help");
        let help = run_ok(&args);
        let name = if command.is_empty() {
            "trajkit".to_owned()
        } else {
            command.join("-")
        };
        insta::assert_snapshot!(format!("help-{name}"), help.stdout);
    }
}

#[test]
fn usage_errors_exit_2() {
    let run = crate::util::run(["ingest"]);
    assert_eq!(run.code, Some(2));
    let run = crate::util::run(["ingest", "nonexistent-input", "-o", "/tmp/never-written"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("cannot read input `nonexistent-input`"),
        "{}",
        run.stderr
    );
}
