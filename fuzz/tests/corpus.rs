//! Replays the committed seed corpus (`fuzz/corpus/<target>/`) and every past crash
//! (`fuzz/regressions/<target>/`) through the fuzz harnesses on stable Rust, without
//! libFuzzer: the CI smoke run. A harness that panics on any file fails the test and
//! names the file.

use std::path::Path;

#[test]
fn every_committed_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0usize;
    for (name, harness) in klive_fuzz::TARGETS {
        let mut files = 0usize;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else { continue };
            let mut paths: Vec<_> = entries.map(|e| e.expect("readable corpus directory").path()).collect();
            paths.sort();
            for path in paths {
                let data = std::fs::read(&path).expect("readable corpus file");
                if std::panic::catch_unwind(|| harness(&data)).is_err() {
                    panic!("{name}: {} crashes the harness", path.display());
                }
                files += 1;
            }
        }
        assert!(files > 0, "target {name} has no committed corpus");
        total += files;
    }
    eprintln!("replayed {total} inputs over {} targets", klive_fuzz::TARGETS.len());
}
