//! The request-timeout queue of one loop.
//!
//! Every request of a run has the same timeout, and a connection's requests end in the
//! order they started (responses come in order, `--pipeline` or not), so the next of a
//! connection's requests to time out is always its oldest one. The queue therefore
//! holds one entry per connection with requests in flight, keyed by its oldest
//! request's deadline: an indexed binary min-heap over connection indices, 20 bytes per
//! connection whatever the pipeline depth, the rate or the timeout. (A plain queue of
//! (deadline, connection) entries, popped only when a deadline passes, held every
//! request of the last `--timeout` seconds: 24 MB at 150,000 requests/s with the 10 s
//! default, touched by cache misses.)
//!
//! Without pipelining each new key is the largest so far, so an insertion stops at
//! once and the heap behaves as the FIFO it replaced; with it, a connection's key
//! moves back to its next request's deadline (started when the previous one was, or
//! soon after), which a FIFO cannot place. Setting, ending and expiring are O(log n)
//! in the connections of the loop.
//!
//! The worker keeps a second one for batched reads: a connection whose socket holds
//! responses back, keyed by when that hold ends (`worker/closed.rs`).

const NONE: u32 = u32::MAX;

/// A connection's entry: its deadline and where it is in the heap (`NONE`: not queued).
#[derive(Debug, Clone, Copy)]
struct Node {
    deadline: u64,
    pos: u32,
}

const UNQUEUED: Node = Node {
    deadline: 0,
    pos: NONE,
};

#[derive(Debug, Default)]
pub struct Deadlines {
    nodes: Vec<Node>,
    /// Connection indices, a binary min-heap by their node's deadline.
    heap: Vec<u32>,
}

impl Deadlines {
    /// Connection `i`'s oldest request in flight is due to time out at `deadline`
    /// (replacing the entry it had, if any).
    pub fn push(&mut self, i: usize, deadline: u64) {
        if i >= self.nodes.len() {
            self.nodes.resize(i + 1, UNQUEUED);
        }
        let old = self.nodes[i];
        self.nodes[i].deadline = deadline;
        if old.pos == NONE {
            let pos = self.heap.len();
            self.heap.push(i as u32);
            self.nodes[i].pos = pos as u32;
            self.up(pos);
        } else if deadline < old.deadline {
            self.up(old.pos as usize);
        } else {
            self.down(old.pos as usize);
        }
    }

    /// Connection `i`'s oldest request in flight, if any, starts the timeout `at`
    /// (ns, with `timeout` added); none: the connection leaves the queue.
    pub fn set(&mut self, i: usize, oldest_start: Option<u64>, timeout: u64) {
        match oldest_start {
            Some(s) => self.push(i, s.saturating_add(timeout)),
            None => self.remove(i),
        }
    }

    /// Connection `i` is queued.
    pub fn contains(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.pos != NONE)
    }

    /// Connection `i` has no request in flight any more; a no-op if it was not queued.
    pub fn remove(&mut self, i: usize) {
        let Some(&Node { pos, .. }) = self.nodes.get(i) else {
            return;
        };
        if pos == NONE {
            return;
        }
        let pos = pos as usize;
        let last = self.heap.len() - 1;
        self.heap.swap(pos, last);
        self.heap.pop();
        self.nodes[i] = UNQUEUED;
        if pos < self.heap.len() {
            self.nodes[self.heap[pos] as usize].pos = pos as u32;
            self.up(pos);
            self.down(pos);
        }
    }

    /// The earliest deadline and its connection.
    pub fn front(&self) -> Option<(u64, usize)> {
        let &h = self.heap.first()?;
        Some((self.nodes[h as usize].deadline, h as usize))
    }

    /// Connections with requests in flight.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    fn key(&self, pos: usize) -> u64 {
        self.nodes[self.heap[pos] as usize].deadline
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.nodes[self.heap[a] as usize].pos = a as u32;
        self.nodes[self.heap[b] as usize].pos = b as u32;
    }

    fn up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.key(parent) <= self.key(pos) {
                break;
            }
            self.swap(parent, pos);
            pos = parent;
        }
    }

    fn down(&mut self, mut pos: usize) {
        loop {
            let (l, r) = (2 * pos + 1, 2 * pos + 2);
            let mut least = pos;
            if l < self.heap.len() && self.key(l) < self.key(least) {
                least = l;
            }
            if r < self.heap.len() && self.key(r) < self.key(least) {
                least = r;
            }
            if least == pos {
                return;
            }
            self.swap(pos, least);
            pos = least;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(d: &mut Deadlines) -> Vec<(u64, usize)> {
        let mut out = Vec::new();
        while let Some((t, i)) = d.front() {
            d.remove(i);
            out.push((t, i));
        }
        out
    }

    #[test]
    fn expires_in_deadline_order_and_forgets_ended_requests() {
        let mut d = Deadlines::default();
        d.push(3, 10);
        d.push(0, 11);
        d.push(7, 12); // grows to 8 connections
        d.push(1, 13);
        assert_eq!(d.len(), 4);
        d.remove(0);
        d.remove(1);
        d.remove(1); // twice: no-op
        d.remove(5); // never queued: no-op
        d.remove(100); // beyond any connection: no-op
        assert_eq!(d.len(), 2);
        d.push(3, 20); // next request on 3: replaces its entry
        d.push(2, 21);
        assert_eq!(drain(&mut d), vec![(12, 7), (20, 3), (21, 2)]);
        assert!(d.is_empty() && d.front().is_none());
        d.push(4, 30); // usable again after emptying
        assert_eq!(d.front(), Some((30, 4)));
    }

    /// Issue 15: a pipelined connection's key moves back to its next request's
    /// deadline, earlier than connections queued since; it expires first.
    #[test]
    fn a_connections_next_request_keeps_its_own_deadline() {
        let mut d = Deadlines::default();
        // Connection 0 sent two requests at 0 and 2; connection 1 one at 5.
        d.push(0, 100);
        d.push(1, 105);
        // 0's first request ended: its key is now its second's deadline, 102.
        d.set(0, Some(2), 100);
        assert_eq!(d.front(), Some((102, 0)));
        d.set(0, None, 100);
        assert_eq!(d.front(), Some((105, 1)));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn holds_one_entry_per_connection_however_many_requests() {
        let mut d = Deadlines::default();
        let conns = 64;
        let mut x = 12345u64;
        for n in 0..1_000_000u64 {
            let i = (n % conns) as usize;
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            d.push(i, n + (x >> 54));
            if n % 3 == 0 {
                d.remove(i);
            }
        }
        assert!(d.len() <= conns as usize);
        let left = drain(&mut d);
        assert!(left.windows(2).all(|w| w[0].0 <= w[1].0), "deadline order");
        assert_eq!(d.nodes.len(), conns as usize);
        assert_eq!(std::mem::size_of::<Node>(), 16);
    }
}
