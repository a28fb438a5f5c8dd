//! Every fixture, read by its detected format, snapshotted as the normalized trajectories (or the
//! located errors) the reader produces: one oddity per file, reviewed once, then held fixed.

use std::path::Path;

use trajkit::formats::{SourceFormat, SourceUnit};

pub(crate) fn read_fixture(path: &Path) -> String {
    let data = fs_err::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let format =
        SourceFormat::detect(path, &data).unwrap_or_else(|| panic!("{name}: format not detected"));
    let unit = SourceUnit {
        path: name.clone(),
        data,
        first_line: 1,
    };
    let results: Vec<_> = format.reader(unit).collect();
    format!("format: {format}\n{results:#?}")
}

#[test]
fn mini_swe_agent_fixtures() {
    insta::glob!("../fixtures", "mini_swe_agent/*.traj.json", |path| {
        insta::assert_snapshot!(read_fixture(path));
    });
}

#[test]
fn openai_jsonl_fixtures() {
    insta::glob!("../fixtures", "openai_jsonl/*.jsonl", |path| {
        insta::assert_snapshot!(read_fixture(path));
    });
}
