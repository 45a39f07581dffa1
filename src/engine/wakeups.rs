//! Wake-ups of connections at given instants (closed-loop pacing and ramp-up, a
//! scenario user's think time): a min-heap of `(at, connection, seq)`. The `seq` is
//! the connection's request number when the wake-up was queued, so a connection that
//! has started a request since ignores it (the caller compares).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Default)]
pub struct Wakeups {
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
}

impl Wakeups {
    /// Wakes connection `i` (whose request number is `seq`) at `at`.
    pub fn push(&mut self, at: u64, i: usize, seq: u32) {
        self.heap.push(Reverse((at, i as u32, seq)));
    }

    /// The next wake-up due at `now`: the connection and its `seq` when queued.
    pub fn due(&mut self, now: u64) -> Option<(usize, u32)> {
        let &Reverse((at, i, seq)) = self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        Some((i as usize, seq))
    }

    /// The earliest wake-up.
    pub fn next(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }
}
