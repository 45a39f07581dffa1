//! Tests of `compile.rs`: the shipped example compiles; every bad input of issue 13's
//! list (and the other checks) is one line at its position.

use std::path::{Path, PathBuf};

use super::*;
use crate::scenario::file::Order;
use crate::scenario::rng::Rng;

fn src(text: &str) -> Source {
    Source {
        name: "s.toml".into(),
        text: text.into(),
    }
}

fn compile(text: &str) -> Result<ScenarioSet, String> {
    compile_in(text, Path::new("/nonexistent"), &LoadOptions::default())
}

fn compile_in(text: &str, dir: &Path, opts: &LoadOptions) -> Result<ScenarioSet, String> {
    ScenarioSet::compile(&src(text), dir, opts).map_err(|e| e.to_string())
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A file with one scenario whose steps are `steps` (TOML after each
/// `[[scenario.step]]` line), on base http://127.0.0.1:8080.
fn steps(steps: &[&str]) -> String {
    let mut t = "base = \"http://127.0.0.1:8080\"\n[[scenario]]\nname = \"s\"\n".to_string();
    for s in steps {
        t.push_str("[[scenario.step]]\n");
        t.push_str(s);
        t.push('\n');
    }
    t
}

#[test]
fn the_shipped_example_compiles() {
    let set = ScenarioSet::load(&examples().join("shop.toml"), &LoadOptions::default()).unwrap();
    assert_eq!(set.origin.authority, "127.0.0.1:8080");
    let names: Vec<(&str, u32)> = set
        .scenarios
        .iter()
        .map(|s| (s.name.as_str(), s.weight))
        .collect();
    assert_eq!(names, [("buy", 3), ("browse", 1)]);
    let steps: Vec<&str> = set.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, ["login", "items", "checkout", "login", "items"]);
    assert_eq!(set.scenarios[1].steps, 3..5);
    assert_eq!(&set.slots[..2], ["user", "password"]);
    assert_eq!(&set.slots[2..], ["sid", "token", "item"]);
    let (table, order) = set.data.as_ref().unwrap();
    assert_eq!(*order, Order::Sequential);
    assert_eq!(table.rows(), 20);
    let login = &set.steps[0];
    assert!(login.keeps_head && login.keeps_body && login.sends_length);
    assert!(
        login
            .expect
            .as_ref()
            .unwrap()
            .status
            .as_ref()
            .unwrap()
            .contains(200)
    );
    assert_eq!(set.steps[1].think_ns, Some((100_000_000, 300_000_000)));
    assert_eq!(set.steps[1].on_error, OnError::End);
    assert!(
        !set.steps[2].keeps_body && set.steps[2].keeps_head,
        "cookies need the head"
    );
}

#[test]
fn origins() {
    let one = |path: &str, base: bool, url: Option<&str>| {
        let mut t = if base {
            "base = \"http://h:8080\"\n".to_string()
        } else {
            String::new()
        };
        t.push_str(&format!(
            "[[scenario]]\nname = \"s\"\n[[scenario.step]]\nname = \"a\"\npath = \"{path}\"\n"
        ));
        let opts = LoadOptions {
            url: url.map(String::from),
            ..Default::default()
        };
        compile_in(&t, Path::new("."), &opts)
    };
    let set = one("/x", true, None).unwrap();
    assert_eq!(
        (set.origin.host.as_str(), set.origin.port, set.origin.tls),
        ("h", 8080, false)
    );
    // A full URL of the base's origin; its path is what is sent.
    let set = one("http://H:8080/y?q={{vu}}", true, None).unwrap();
    assert_eq!(
        set.steps[0].path,
        Template::compile("/y?q={{vu}}", &|_| Err(String::new())).unwrap()
    );
    let set = one("https://other", false, None).unwrap();
    assert_eq!((set.origin.tls, set.origin.port), (true, 443));
    assert_eq!(set.steps[0].path.as_literal(), Some(&b"/"[..]));
    // The command line's URL replaces the origin.
    let set = one("/x", true, Some("http://127.0.0.1:9/")).unwrap();
    assert_eq!(set.origin.authority, "127.0.0.1:9");
    for (path, base, url, want) in [
        (
            "http://h:8081/x",
            true,
            None,
            "s.toml:6:8: http://h:8081 is not the file's origin (http://h:8080): one scenario file talks to one origin",
        ),
        (
            "https://h:8080/x",
            true,
            None,
            "s.toml:6:8: https://h:8080 is not the file's origin",
        ),
        (
            "http://{{host}}/x",
            true,
            None,
            "s.toml:6:8: a template cannot choose the host",
        ),
        ("x", true, None, "s.toml:6:8: path \"x\" must start with /"),
        (
            "/x",
            false,
            None,
            "s.toml:1:1: no origin to send to: set base",
        ),
        (
            "/x",
            true,
            Some("http://127.0.0.1:9/api"),
            "with --scenario the URL gives only the origin, and \"http://127.0.0.1:9/api\" has the path \"/api\": leave it out",
        ),
        ("/x", true, Some("ftp://h/"), "unsupported scheme"),
    ] {
        let e = one(path, base, url).unwrap_err();
        assert!(
            e.starts_with(want),
            "{path} {base} {url:?}\n got: {e}\nwant: {want}"
        );
    }
    let e = compile("base = \"http://h:8080/api\"\n[[scenario]]\nname = \"s\"\n[[scenario.step]]\nname = \"a\"\npath = \"/\"").unwrap_err();
    assert!(
        e.starts_with(
            "s.toml:1:8: base gives only the origin (scheme, host, port): remove the path \"/api\""
        ),
        "{e}"
    );
    let e = compile("base = \"htp://h\"\n[[scenario]]\nname = \"s\"\n[[scenario.step]]\nname = \"a\"\npath = \"/\"").unwrap_err();
    assert!(
        e.starts_with("s.toml:1:8: base: unsupported scheme \"htp\""),
        "{e}"
    );
}

/// Issue 13's bad input list, and the rest: each is one line naming file, line and
/// column (a missing scenario file names the file).
#[test]
fn bad_input_is_one_line_at_its_place() {
    let capture_then = |use_: &str| {
        steps(&[
            "name = \"a\"\npath = \"/\"\ncapture = { t = { json = \"/t\" } }",
            use_,
        ])
    };
    let cases: Vec<(String, &str)> = vec![
        // TOML syntax and unknown keys.
        ("base = \"http://h\"\n[[scenario]\n".into(), "s.toml:2:12: unclosed array table, expected `]`"),
        (steps(&["name = \"a\"\npath = \"/\"\nheader = {}"]), "s.toml:7:1: unknown field `header`, expected one of"),
        // Unknown template names, or names not captured yet.
        (steps(&["name = \"a\"\npath = \"/u/{{usr}}\""]), "s.toml:6:12: unknown template name {{usr}}: use a built-in (vu, iteration, uuid, random A..B, now_ms)"),
        (capture_then("name = \"b\"\npath = \"/{{tok}}\""), "s.toml:10:10: unknown template name {{tok}}: use a value captured by an earlier step (t), or a built-in"),
        (steps(&["name = \"a\"\npath = \"/{{t}}\"\ncapture = { t = { json = \"/t\" } }"]), "s.toml:6:10: {{t}} is captured by this step's own response"),
        (steps(&["name = \"a\"\npath = \"/\"\nbody = \"x={{t}}\"", "name = \"b\"\npath = \"/\"\ncapture = { t = { json = \"/t\" } }"]), "s.toml:7:11: {{t}} is captured by a later step (\"b\")"),
        (steps(&["name = \"a\"\npath = \"/\"\nheaders = { X = \"{{random 5..1}}\" }"]), "s.toml:7:18: {{random 5..1}}: write the range as {{random A..B}}"),
        (steps(&["name = \"a\"\npath = \"/\"\nbody = \"{{oops\""]), "s.toml:7:9: '{{' is not closed"),
        // Invalid JSON Pointer and regex.
        (steps(&["name = \"a\"\npath = \"/\"\ncapture = { t = { json = \"t\" } }"]), "s.toml:7:26: invalid JSON Pointer \"t\""),
        (steps(&["name = \"a\"\npath = \"/\"\ncapture = { t = { regex = \"(\" } }"]), "s.toml:7:27: invalid regex \"(\""),
        (steps(&["name = \"a\"\npath = \"/\"\nexpect_body_regex = \"[\""]), "s.toml:7:21: expect_body_regex: invalid regex \"[\""),
        // weight = 0, and other numbers.
        ("base = \"http://h\"\n[[scenario]]\nname = \"s\"\nweight = 0\n[[scenario.step]]\nname = \"a\"\npath = \"/\"".into(), "s.toml:4:10: weight 0 must be a whole number from 1 to 10000"),
        ("base = \"http://h\"\n[[scenario]]\nname = \"s\"\nweight = -2\n[[scenario.step]]\nname = \"a\"\npath = \"/\"".into(), "s.toml:4:10: weight -2 must be"),
        // Structure.
        ("base = \"http://h\"\n".into(), "s.toml:1:1: the file has no [[scenario]]"),
        ("base = \"http://h\"\n[[scenario]]\nname = \"s\"\n".into(), "s.toml:2:1: scenario \"s\" has no steps"),
        (steps(&["name = \"a\"\npath = \"/\"", "name = \"a\"\npath = \"/\""]), "s.toml:8:8: step \"a\" comes twice in scenario \"s\""),
        (steps(&["name = \"log in\"\npath = \"/\""]), "s.toml:5:8: step name \"log in\": use letters"),
        // Values checked after parsing.
        (steps(&["name = \"a\"\npath = \"/\"\nmethod = \"get\""]), "s.toml:7:10: method \"get\": use an upper-case method"),
        (steps(&["name = \"a\"\npath = \"/a b\""]), "s.toml:6:11: the path holds a space"),
        (steps(&["name = \"a\"\npath = \"/\"\nheaders = { \"X-A\" = \"1\\r\\nX-B: 2\" }"]), "s.toml:7:21: the header value holds a control character"),
        (steps(&["name = \"a\"\npath = \"/\"\nheaders = { \"Content-Length\" = \"3\" }"]), "s.toml:7:13: barrage sets Content-Length"),
        (steps(&["name = \"a\"\npath = \"/\"\nheaders = { \"X A\" = \"3\" }"]), "s.toml:7:13: header name \"X A\""),
        (steps(&["name = \"a\"\npath = \"/\"\nheaders = { \"x-a\" = \"3\", \"X-A\" = \"4\" }"]), "is given twice"),
        (steps(&["name = \"a\"\npath = \"/\"\nthink = \"soon\""]), "s.toml:7:9: think \"soon\": invalid duration"),
        (steps(&["name = \"a\"\npath = \"/\"\nthink = \"3s..1s\""]), "s.toml:7:9: think \"3s..1s\": the range's start is after its end"),
        (steps(&["name = \"a\"\npath = \"/\"\nexpect_status = \"20\""]), "s.toml:7:17: expect_status: invalid status"),
        (steps(&["name = \"a\"\npath = \"/\"\nexpect_size = \"big\""]), "s.toml:7:15: expect_size: invalid size"),
        (steps(&["name = \"a\"\npath = \"/\"\nexpect_body = \"\""]), "s.toml:7:15: expect_body is empty"),
        (steps(&["name = \"a\"\npath = \"/\"\ncapture = { uuid = { json = \"/u\" } }"]), "s.toml:7:13: capture name \"uuid\""),
        // The data file: missing (at its key), empty (in the data file).
        ("[data]\nfile = \"missing.csv\"\n[[scenario]]\nname = \"s\"\n[[scenario.step]]\nname = \"a\"\npath = \"/\"".into(), "s.toml:2:8: cannot read data file /nonexistent/missing.csv: no such file"),
    ];
    for (text, want) in &cases {
        let e = compile(text).unwrap_err();
        assert!(
            e.starts_with(want) || (!want.starts_with("s.toml") && e.contains(want)),
            "{text}\n got: {e}\nwant: {want}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
    }
    // A missing or unreadable scenario file.
    let e =
        ScenarioSet::load(Path::new("/nonexistent/s.toml"), &LoadOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot read scenario file /nonexistent/s.toml: no such file (check the path)"
    );
    let e = ScenarioSet::load(Path::new("/"), &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string().starts_with("cannot read scenario file /: "),
        "{e}"
    );
}

#[test]
fn an_empty_data_file_is_named_with_its_position() {
    let dir = std::env::temp_dir().join(format!("barrage-scenario-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("empty.csv"), "").unwrap();
    std::fs::write(dir.join("uuid.csv"), "user,uuid\nx,y\n").unwrap();
    let text = |f: &str| {
        format!(
            "[data]\nfile = \"{f}\"\n[[scenario]]\nname = \"s\"\n[[scenario.step]]\nname = \"a\"\npath = \"http://h/\""
        )
    };
    let opts = LoadOptions::default();
    let e = compile_in(&text("empty.csv"), &dir, &opts).unwrap_err();
    assert!(e.ends_with("empty.csv:1:1: the data file is empty: its first line names the columns (like user,password) and each further line is one row"), "{e}");
    let e = compile_in(&text("uuid.csv"), &dir, &opts).unwrap_err();
    assert!(
        e.ends_with(
            "uuid.csv:1:6: column \"uuid\" is the name of a built-in ({{uuid}}): rename the column"
        ),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn expectations_merge_with_the_command_line() {
    let text = steps(&[
        "name = \"a\"\npath = \"/\"\nexpect_status = \"201\"",
        "name = \"b\"\npath = \"/\"",
    ]);
    let opts = LoadOptions {
        expect: ExpectSpec {
            status: Some("200".into()),
            size: Some("3".into()),
            ..Default::default()
        },
        max_body: 99,
        ..Default::default()
    };
    let set = compile_in(&text, Path::new("."), &opts).unwrap();
    let a = set.steps[0].expect.as_ref().unwrap();
    assert!(a.status.as_ref().unwrap().contains(201) && !a.status.as_ref().unwrap().contains(200));
    assert_eq!((a.size, a.max_body), (Some((3, 3)), 99));
    let b = set.steps[1].expect.as_ref().unwrap();
    assert!(b.status.as_ref().unwrap().contains(200));
    assert!(compile(&text).unwrap().steps[1].expect.is_none());
}

#[test]
fn slots_and_weights() {
    // A capture may reuse a data column's slot; two scenarios capturing one name
    // share its slot; the same name in another scenario must be captured there too.
    let text = "base = \"http://h\"\n\
        [[scenario]]\nname = \"a\"\nweight = 1\n\
        [[scenario.step]]\nname = \"s1\"\npath = \"/\"\ncapture = { t = { json = \"/t\" } }\n\
        [[scenario.step]]\nname = \"s2\"\npath = \"/{{t}}\"\n\
        [[scenario]]\nname = \"b\"\nweight = 3\ncookies = false\n\
        [[scenario.step]]\nname = \"s1\"\npath = \"/\"\ncapture = { t = { regex = \"(x)\" }, u = { header = \"U\" } }\n\
        [[scenario.step]]\nname = \"s2\"\npath = \"/{{t}}/{{u}}\"\n";
    let set = compile(text).unwrap();
    assert_eq!(set.slots, ["t", "u"]);
    assert_eq!(
        set.steps[2]
            .captures
            .iter()
            .map(|c| c.slot)
            .collect::<Vec<_>>(),
        [0, 1]
    );
    assert!(!set.scenarios[1].cookies && set.scenarios[0].cookies);
    assert!(!set.steps[3].keeps_head, "no cookies, no header capture");
    let mut rng = Rng::new(1, 1);
    let mut counts = [0u32; 2];
    for _ in 0..4000 {
        counts[set.pick(&mut rng) as usize] += 1;
    }
    assert!((800..1200).contains(&counts[0]), "{counts:?}"); // 1 in 4
    let e = compile(&text.replace("capture = { t = { regex = \"(x)\" }, u", "capture = { u"))
        .unwrap_err();
    assert!(
        e.contains("{{t}} is captured in another scenario only"),
        "{e}"
    );
    let e = compile(&text.replace("name = \"b\"", "name = \"a\"")).unwrap_err();
    assert!(
        e.starts_with("s.toml:13:8: scenario \"a\" is defined twice"),
        "{e}"
    );
}
