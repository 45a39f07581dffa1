//! The requests of a run, as the configuration builds them: from `-m/-H/-b` or a
//! targets file (their bytes, names, SNI warnings), or from a scenario file (one
//! template per step; the flags that describe plain requests refused).

use super::*;

/// The requests of a run, built.
pub(super) struct Requests {
    /// The origin every request goes to.
    pub(super) target: Target,
    pub(super) templates: Vec<Template>,
    /// "METHOD URL" of each.
    pub(super) names: Vec<String>,
    pub(super) picker: Picker,
}

/// Every request's bytes and checks, built once; all must share one origin.
pub(super) fn requests(
    a: &RunArgs,
    specs: &[RequestSpec],
    keepalive: bool,
    warnings: &mut Vec<String>,
) -> Result<Requests, ConfigError> {
    let first = &specs[0];
    let target = Target::resolve_url(&first.url)?;
    for s in &specs[1..] {
        if (s.url.tls, &s.url.host, s.url.port) != (first.url.tls, &first.url.host, first.url.port)
        {
            return Err(invalid(format!(
                "{}: every target must share one scheme://host:port ({}); run one barrage per origin",
                s.origin, first.url.authority
            )));
        }
    }
    let flags = ExpectSpec {
        status: a.expect_status.clone(),
        body: a.expect_body.clone(),
        regex: a.expect_body_regex.clone(),
        size: a.expect_size.clone(),
    };
    let mut templates = Vec::new();
    for s in specs {
        warnings.extend(s.length_warnings());
        let expect = s
            .expect
            .or(&flags)
            .compile(a.max_body)
            .map_err(|e| match s.origin.as_str() {
                "the command line" => invalid(e),
                origin => invalid(format!("{origin}: {e}")),
            })?
            .map(Arc::new);
        templates.push(Template::new(&s.parts(), keepalive, expect));
    }
    let names = specs
        .iter()
        .map(|s| format!("{} {}", s.method, url_string(&s.url)))
        .collect();
    let weights: Vec<u32> = specs.iter().map(|s| s.weight).collect();
    let pick = match a.targets_mode {
        TargetsMode::RoundRobin => Pick::RoundRobin,
        TargetsMode::Random => Pick::Random,
    };
    Ok(Requests {
        target,
        templates,
        names,
        picker: Picker::new(&weights, pick),
    })
}

/// `--scenario FILE`: the file compiled (its one origin, the command line's URL
/// replacing its base), one template per step (no bytes: each request is rendered per
/// iteration; its HEAD flag and checks), the steps' names. Flags that describe plain
/// requests or do not fit virtual users are refused; so is a data file with fewer
/// rows than the test has loops (sequential order).
pub(super) fn scenario_requests(
    a: &RunArgs,
    path: &std::path::Path,
    plan: &Plan,
) -> Result<(Requests, ScenarioSet), ConfigError> {
    let refused = [
        (a.targets.is_some(), "--targets"),
        (a.method != "GET", "-m/--method"),
        (!a.headers.is_empty(), "-H/--header"),
        (a.body.is_some(), "-b/--body"),
        (a.body_file.is_some(), "--body-file"),
        (a.content_type.is_some(), "-T/--content-type"),
        (a.no_keepalive, "--no-keepalive"),
        (a.interval.is_some(), "--interval"),
        (a.pipeline > 1, "--pipeline"),
    ];
    if let Some((_, flag)) = refused.iter().find(|(set, _)| *set) {
        return Err(invalid(format!(
            "{flag} does not apply with --scenario: the scenario file describes every request (and a virtual user keeps its connection, pausing by its steps' think times); drop {flag}"
        )));
    }
    let opts = LoadOptions {
        url: a.url.clone(),
        expect: ExpectSpec {
            status: a.expect_status.clone(),
            body: a.expect_body.clone(),
            regex: a.expect_body_regex.clone(),
            size: a.expect_size.clone(),
        },
        max_body: a.max_body,
    };
    let set = ScenarioSet::load(path, &opts).map_err(|e| invalid(e.to_string()))?;
    if set.steps.len() > u16::MAX as usize {
        return Err(invalid(format!(
            "{}: {} steps: a scenario file may have at most {} steps",
            set.file,
            set.steps.len(),
            u16::MAX
        )));
    }
    if let Some((table, order)) = &set.data {
        table
            .check_split(*order, plan.global_loops())
            .map_err(|e| invalid(format!("{}: {e}", set.file)))?;
    }
    let target = Target::resolve_url(&set.origin)?;
    let templates = set
        .steps
        .iter()
        .map(|s| Template {
            bytes: Arc::from(Vec::new()),
            head: s.method == "HEAD",
            idempotent: matches!(s.method.as_str(), "GET" | "HEAD" | "OPTIONS"),
            expect: s.expect.clone().map(Arc::new),
        })
        .collect();
    let names = step_names(&set);
    let picker = Picker::new(&[1], Pick::RoundRobin);
    Ok((
        Requests {
            target,
            templates,
            names,
            picker,
        },
        set,
    ))
}

/// Each step's name in reports and `--fail-if`: `scenario.step`.
pub fn step_names(set: &ScenarioSet) -> Vec<String> {
    set.steps
        .iter()
        .map(|s| format!("{}.{}", set.scenarios[s.scenario as usize].name, s.name))
        .collect()
}

/// A Host header naming another site than the URL: SNI and the certificate check
/// still use the URL's host, which the server may not expect.
pub(super) fn sni_warnings(specs: &[RequestSpec], target: &Target) -> Vec<String> {
    let mut warnings = Vec::new();
    for s in specs {
        if let Some((_, host)) = s
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
            if !name.eq_ignore_ascii_case(&target.host) {
                warnings.push(format!(
                    "{}: Host: {host} but TLS sends and verifies the name {}; add --sni {name} if the server expects it",
                    s.origin, target.host
                ));
            }
        }
    }
    warnings
}
