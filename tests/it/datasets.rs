//! Every embedded dataset in `datasets/` matches its `manifest.toml` and ingests as described.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use trajkit::dataset::Dataset;

use crate::util::{ingest_args, repo, run_ok, temp_dir};

#[derive(Deserialize)]
struct DatasetManifest {
    name: String,
    format: String,
    license: String,
    sessions: u64,
    turns: u64,
    files: Vec<DatasetFile>,
}

#[derive(Deserialize)]
struct DatasetFile {
    path: String,
    bytes: u64,
    sha256: String,
    turns: u32,
}

#[test]
fn embedded_datasets_match_their_manifests() {
    let mut checked = 0;
    for entry in fs_err::read_dir(repo().join("datasets")).unwrap() {
        let directory = entry.unwrap().path();
        if !directory.is_dir() {
            continue;
        }
        let manifest: DatasetManifest =
            toml::from_str(&fs_err::read_to_string(directory.join("manifest.toml")).unwrap())
                .unwrap();
        assert!(
            directory.join("README.md").exists(),
            "{} has a dataset card",
            manifest.name
        );
        assert!(!manifest.license.is_empty());
        for file in &manifest.files {
            let bytes = fs_err::read(directory.join(&file.path)).unwrap();
            assert_eq!(bytes.len() as u64, file.bytes, "{}", file.path);
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                file.sha256,
                "{}",
                file.path
            );
        }
        let out = temp_dir();
        let dataset = out.path().join("d");
        run_ok(ingest_args(
            &[&directory],
            &dataset,
            &["--format", &manifest.format],
        ));
        let opened = Dataset::open(&dataset).unwrap();
        assert_eq!(opened.sessions().len() as u64, manifest.sessions);
        assert_eq!(opened.reader().manifest().tables.turns.rows, manifest.turns);
        assert_eq!(opened.reader().manifest().rejects.count, 0);
        for (session, file) in opened.sessions().iter().zip(&manifest.files) {
            assert!(
                file.path
                    .ends_with(&format!("{}.traj.json", session.session_id))
            );
            assert_eq!(session.turn_count, file.turns);
            assert_eq!(session.source_format, manifest.format);
        }
        checked += 1;
    }
    assert!(checked >= 1);
}
