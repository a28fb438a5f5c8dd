//! Reader tests for the `openhands` format.

#[test]
fn fixtures() {
    insta::glob!("../fixtures", "openhands/*.jsonl", |path| {
        insta::assert_snapshot!(crate::formats::read_fixture(path));
    });
}
