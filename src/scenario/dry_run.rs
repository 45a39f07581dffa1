//! `barrage run --scenario FILE --dry-run`: the first iteration of every scenario
//! rendered as it would be sent (virtual user 1, iteration 1, data row 1), without
//! sending anything. No response comes back, so captured values are empty and the
//! cookie jar stays empty.

use crate::scenario::data::DataCursor;
use crate::scenario::file::Order;
use crate::scenario::set::ScenarioSet;
use crate::scenario::vu::Vu;

/// The text `--dry-run` prints: for each step, a `# scenario.step` line, then the
/// request's bytes exactly (CRLF line ends), then a blank line. `seed` seeds
/// `{{uuid}}` and `{{random}}`; `unix_ms` is `{{now_ms}}`.
pub fn render(set: &ScenarioSet, seed: u64, unix_ms: u64) -> String {
    let mut text = String::new();
    let mut out = Vec::new();
    for (si, scenario) in set.scenarios.iter().enumerate() {
        let mut vu = Vu::new(set, 1, seed);
        // Row 1 whatever the order: a fresh sequential cursor of one loop.
        let mut cursor = set
            .data
            .as_ref()
            .and_then(|(t, _)| DataCursor::new(t, Order::Sequential, 0, 1).ok());
        vu.start_scenario(set, si as u16, cursor.as_mut(), 0);
        for step in scenario.steps.clone() {
            vu.goto(step);
            out.clear();
            vu.render(set, unix_ms, &mut out);
            let s = &set.steps[step as usize];
            text.push_str(&format!("# {}.{}\n", scenario.name, s.name));
            text.push_str(&String::from_utf8_lossy(&out));
            text.push_str("\n\n");
        }
    }
    text
}
