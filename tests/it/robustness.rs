//! No input makes a reader (or the encoder behind it) panic: arbitrary bytes and seeded
//! mutations of real files (bit flips, truncations, splices, deleted and duplicated spans) are
//! either read or rejected with a located error.

use std::path::Path;

use trajkit::formats::{SourceFormat, SourceUnit};
use trajkit::ingest::encode::{Provenance, encode};
use trajkit::tokenizer::{Tokenizer, TokenizerSpec};

use crate::util::{files_under, repo, sample_inputs};

struct Mutator(u64);

impl Mutator {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % u64::try_from(bound.max(1)).unwrap()).unwrap()
    }

    fn mutate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        for _ in 0..=self.next(4) {
            let at = self.next(out.len());
            match self.next(5) {
                0 => out.truncate(at),
                1 => {
                    if let Some(byte) = out.get_mut(at) {
                        *byte ^= 1 << self.next(8);
                    }
                }
                2 => {
                    let end = (at + self.next(64)).min(out.len());
                    out.drain(at..end);
                }
                3 => {
                    let end = (at + self.next(64)).min(out.len());
                    let span = out[at..end].to_vec();
                    out.splice(at..at, span);
                }
                _ => {
                    let noise: Vec<u8> = (0..self.next(16))
                        .map(|_| b"{}[]\",:\\0u\xff\n"[self.next(12)])
                        .collect();
                    out.splice(at..at, noise);
                }
            }
        }
        out
    }
}

fn read_everything(format: SourceFormat, path: &Path, data: Vec<u8>, tokenizer: &Tokenizer) {
    let unit = SourceUnit {
        path: path.display().to_string(),
        data,
        first_line: 1,
    };
    let provenance = Provenance {
        source_format: format.name(),
        source_file: "fuzz",
    };
    for trajectory in format.reader(unit).flatten() {
        let _ = encode(trajectory, Some(tokenizer), 16, provenance);
    }
}

#[test]
fn mutated_real_files_never_panic() {
    let tokenizer = Tokenizer::load(&TokenizerSpec::O200k).unwrap().unwrap();
    let mut seeds: Vec<_> = files_under(&sample_inputs());
    seeds.extend(files_under(&repo().join("tests/fixtures")));
    let mut mutator = Mutator(0x0123_4567_89ab_cdef);
    let mut cases = 0;
    for seed in seeds {
        let data = fs_err::read(&seed).unwrap();
        let Some(format) = SourceFormat::detect(&seed, &data) else {
            continue;
        };
        // Large files get fewer mutations: each case re-reads the whole file.
        let rounds = if data.len() > 50_000 { 40 } else { 400 };
        for _ in 0..rounds {
            read_everything(format, &seed, mutator.mutate(&data), &tokenizer);
            cases += 1;
        }
    }
    assert!(cases > 2000, "{cases} cases");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let tokenizer = Tokenizer::load(&TokenizerSpec::O200k).unwrap().unwrap();
    let mut mutator = Mutator(0xfeed_beef_dead_cafe);
    for _ in 0..3000 {
        let length = mutator.next(300);
        let data: Vec<u8> = (0..length)
            .map(|_| {
                b"{}[]\":,0123456789.-eEtruefalsn \n\t\\/urolecontentmessages\xc3\xa9\xff"
                    [mutator.next(52)]
            })
            .collect();
        for format in SourceFormat::ALL {
            read_everything(
                format,
                Path::new("fuzz.traj.json"),
                data.clone(),
                &tokenizer,
            );
        }
    }
}
