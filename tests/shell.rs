//! Issue 16 item 3: `barrage completions bash|zsh|fish` and `barrage manpage`
//! generate, and name every subcommand and a run flag.

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
