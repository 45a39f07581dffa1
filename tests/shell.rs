//! Issue 16 item 3: `barrage completions bash|zsh|fish` and `barrage manpage`
//! generate, and name every subcommand and a run flag. And every `--help` reads on an
//! 80-column terminal.

mod common;

use common::*;

const SUBCOMMANDS: [&str; 6] = ["run", "merge", "report", "serve", "completions", "manpage"];

#[test]
fn completions_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = assert_ok(&barrage(&["completions", shell]));
        for sub in SUBCOMMANDS {
            assert!(out.contains(sub), "{shell}: no {sub}");
        }
        assert!(out.contains("metrics-listen"), "{shell}");
    }
    // Each script is valid in its own shell, where that shell is installed.
    let bash = assert_ok(&barrage(&["completions", "bash"]));
    let dir = scratch("completions");
    let f = dir.join("barrage.bash");
    std::fs::write(&f, bash).unwrap();
    let check = std::process::Command::new("bash")
        .args(["-n", p(&f)])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    let bad = barrage(&["completions", "tcsh"]);
    assert!(!bad.status.success());
}

#[test]
fn the_man_page_names_every_subcommand() {
    let page = assert_ok(&barrage(&["manpage"]));
    assert!(page.contains(".TH barrage 1"), "{page}");
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("barrage\\-{sub}(1)")),
            "no {sub}: {page}"
        );
    }
    let dir = scratch("manpages").join("man1");
    let listed = assert_ok(&barrage(&["manpage", "--out", p(&dir)]));
    for sub in SUBCOMMANDS {
        let f = dir.join(format!("barrage-{sub}.1"));
        assert!(listed.contains(p(&f)), "{listed}");
        assert!(f.exists());
    }
    let run = std::fs::read_to_string(dir.join("barrage-run.1")).unwrap();
    assert!(run.contains("\\-\\-metrics\\-listen"), "{run}");
    // An unwritable place is one clear line.
    let file = dir.join("barrage.1");
    let out = barrage(&["manpage", "--out", p(&file.join("x"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot write man pages into") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// `--help` wraps to the terminal's width (clap's wrap_help; without a terminal, to
/// $COLUMNS): on an 80-column one no line of any subcommand's help runs past it.
#[test]
fn every_help_fits_an_80_column_terminal() {
    let mut commands: Vec<Vec<&str>> = vec![vec!["--help"]];
    commands.extend(
        [
            "run", "merge", "report", "serve", "search", "completions", "manpage",
        ]
        .iter()
        .map(|c| vec![*c, "--help"]),
    );
    for args in commands {
        let out = std::process::Command::new(bin())
            .args(&args)
            .env("COLUMNS", "80")
            .output()
            .expect("run barrage");
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        assert!(help.lines().count() > 5, "{args:?}: {help}");
        for line in help.lines() {
            assert!(
                line.chars().count() <= 80,
                "barrage {args:?}: {} columns: {line}",
                line.chars().count()
            );
        }
    }
}
