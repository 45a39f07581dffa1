//! A run directory's sample files: what they are called, finding them, opening them,
//! and checking that the files merged together make one test (one run id, one
//! configuration, every shard of a distributed run exactly once). A distributed run
//! is merged from several hosts' directories; one host's own directory is enough for
//! the merge at the end of its `barrage run`.

use std::path::{Path, PathBuf};

use crate::record::SampleFile;
use crate::record::merge::MergeError;

/// The name of process `index`'s sample file inside a run directory.
pub fn file_name(index: u32) -> String {
    format!("samples-{index:03}.bin")
}

/// Lists the sample files of a run directory, sorted by name.
pub fn sample_paths(dir: &Path) -> Result<Vec<PathBuf>, MergeError> {
    let rd = std::fs::read_dir(dir).map_err(|source| MergeError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("samples-") && n.ends_with(".bin"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(MergeError::NoSamples {
            path: dir.to_path_buf(),
        });
    }
    Ok(paths)
}

/// Opens and validates every sample file in `dirs`: one whole test, every shard of a
/// distributed run present exactly once.
pub fn open_run(dirs: &[PathBuf]) -> Result<Vec<SampleFile>, MergeError> {
    let files = open_files(dirs)?;
    check_one_run(&files, true)?;
    Ok(files)
}

/// Opens one host's run directory of a (possibly distributed) test: like
/// [`open_run`], but this host's shard alone is enough.
pub fn open_host_run(dir: &Path) -> Result<Vec<SampleFile>, MergeError> {
    let files = open_files(std::slice::from_ref(&dir.to_path_buf()))?;
    check_one_run(&files, false)?;
    Ok(files)
}

fn open_files(dirs: &[PathBuf]) -> Result<Vec<SampleFile>, MergeError> {
    let mut files = Vec::new();
    for dir in dirs {
        for path in sample_paths(dir)? {
            let f = SampleFile::open(&path).map_err(|why| MergeError::Corrupt {
                path: path.clone(),
                why,
            })?;
            files.push(f);
        }
    }
    Ok(files)
}

/// Files merged together must come from one test: one run id, one configuration,
/// and (for a distributed run) every shard exactly once.
fn check_one_run(files: &[SampleFile], whole_test: bool) -> Result<(), MergeError> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    let h0 = &first.header;
    for f in &files[1..] {
        if f.header.run_id != h0.run_id {
            return Err(MergeError::RunMismatch {
                path: f.path.clone(),
                expected: h0.run_id.clone(),
                found: f.header.run_id.clone(),
            });
        }
        if f.header.config_hash != h0.config_hash || f.header.shard_count != h0.shard_count {
            return Err(MergeError::Shards(format!(
                "{} was run with other settings than {} (same run id, different configuration): rerun with one command line on every host",
                f.path.display(),
                first.path.display()
            )));
        }
    }
    // Each shard's files live in one directory; a shard seen in two is a duplicate.
    // The shard count comes from a file's header, which a damaged file can set to
    // anything: nothing here is sized by it, only by the files.
    let n = h0.shard_count.max(1);
    let mut seen: Vec<(u32, &Path)> = Vec::new();
    for f in files {
        let dir = f.path.parent().unwrap_or(Path::new("."));
        let i = f.header.shard_index;
        if i >= n {
            return Err(MergeError::Shards(format!(
                "{} claims shard {i} of {n}",
                f.path.display()
            )));
        }
        match seen.iter().find(|(j, _)| *j == i) {
            Some((_, d)) if *d != dir => {
                return Err(MergeError::Shards(format!(
                    "shard {i} of {n} appears twice, in {} and {}: give each host's run directory once",
                    d.display(),
                    dir.display()
                )));
            }
            Some(_) => {}
            None => seen.push((i, dir)),
        }
    }
    if !whole_test {
        return Ok(());
    }
    const LISTED: usize = 64;
    let absent = n as usize - seen.len();
    let mut missing: Vec<String> = (0..n)
        .filter(|i| !seen.iter().any(|(j, _)| j == i))
        .take(LISTED)
        .map(|i| i.to_string())
        .collect();
    if absent > LISTED {
        missing.push(format!("and {} more", absent - LISTED));
    }
    if !missing.is_empty() {
        return Err(MergeError::Shards(format!(
            "shard {} of {n} missing: merge the run directories of all {n} hosts",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// A scenario run's description in its run directory: the step names records'
/// `target` fields index, written by `barrage run --scenario` before the load.
pub const SCENARIO_FILE: &str = "scenario.json";

/// The step names of the scenario run in `dirs` (the first directory that has a
/// [`SCENARIO_FILE`]); empty for a run of plain requests.
pub fn step_names(dirs: &[PathBuf]) -> Vec<String> {
    dirs.iter()
        .find_map(|d| std::fs::read(d.join(SCENARIO_FILE)).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("steps")?.as_array().map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_string())
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;
    use crate::record::testing::{RunDir, valid};

    /// Regression: the shard check sized a table by the header's shard count, so a
    /// damaged file claiming 4 billion shards made merge abort on a 64 GiB
    /// allocation (found by the sample_file fuzz target).
    #[test]
    fn huge_shard_count_is_not_allocated() {
        let run = RunDir::new("huge-shards");
        let header = Header {
            chunk_records: 4,
            shard_count: u32::MAX,
            run_id: "r".into(),
            ..Default::default()
        };
        run.write(0, header, &[valid(1)]);
        let Err(err) = open_run(std::slice::from_ref(&run.0)) else {
            panic!("4294967294 shards are missing");
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with("shard 1, 2, 3,")
                && msg.contains("64, and 4294967230 more of 4294967295 missing"),
            "{msg}"
        );
        assert!(
            open_host_run(&run.0).is_ok(),
            "one host's shard alone is fine"
        );
    }
}
