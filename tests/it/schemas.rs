//! `schemas/` is generated from the row types and must be up to date.

use crate::util::{repo, run};

#[test]
fn committed_schemas_are_up_to_date() {
    let check = run([
        "schemas".as_ref(),
        "--check".as_ref(),
        "--dir".as_ref(),
        repo().join("schemas").as_os_str(),
    ]);
    assert_eq!(check.code, Some(0), "{}", check.stderr);
    for (name, contents) in trajkit::commands::schemas::generated_files() {
        let committed = fs_err::read_to_string(repo().join("schemas").join(&name)).unwrap();
        assert_eq!(
            committed, contents,
            "schemas/{name} is stale: run `trajkit schemas`"
        );
    }
}

#[test]
fn a_stale_file_is_reported() {
    let out = crate::util::temp_dir();
    let dir = out.path().join("schemas");
    assert_eq!(
        run(["schemas".as_ref(), "--dir".as_ref(), dir.as_os_str()]).code,
        Some(0)
    );
    fs_err::write(dir.join("turns.schema.json"), "{}").unwrap();
    let check = run([
        "schemas".as_ref(),
        "--check".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(check.code, Some(1));
    assert!(
        check.stderr.contains("turns.schema.json"),
        "{}",
        check.stderr
    );
}

/// Every row of a real dataset validates against the published JSON Schema's column list.
#[test]
fn arrow_columns_match_the_json_schema() {
    use trajkit::schema::arrow::TableRow;
    fn check<Row: TableRow>() {
        let schema = serde_json::to_value(schemars::schema_for!(Row)).unwrap();
        let properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let arrow_schema = Row::schema();
        let columns: Vec<&String> = arrow_schema.fields().iter().map(|f| f.name()).collect();
        assert_eq!(properties, columns, "{}", Row::TABLE);
    }
    check::<trajkit::schema::TurnRow>();
    check::<trajkit::schema::SessionRow>();
    check::<trajkit::schema::MessageRow>();
}
