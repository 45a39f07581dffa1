//! What a shell and `man` need: `barrage completions SHELL` (clap_complete) and
//! `barrage manpage` (clap_mangen), both generated from the clap structs in
//! `args.rs`, so they always match the flags. README.md says where to install them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::args::Cli;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "barrage", out);
}

/// Writes the man page of `barrage` (its subcommands listed) to `out`.
pub fn manpage(out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Writes `barrage.1` and one page per subcommand (`barrage-run.1`, ...) into `dir`,
/// created if needed. Returns the files written.
pub fn manpages_to(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("barrage") && n.ends_with(".1"))
        })
        .collect();
    files.sort();
    Ok(files)
}
