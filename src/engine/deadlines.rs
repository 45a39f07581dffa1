//! The request-timeout queue of one loop.
//!
//! Every request of a run has the same timeout, so deadlines fall in the order the
//! requests started: a FIFO is a priority queue here. It is an intrusive doubly linked
//! list over connection indices, and a connection is in it at most once (it has at
//! most one request in flight), so the queue holds exactly the requests in flight:
//! memory is 16 bytes per connection, whatever the rate or the timeout. (A plain
//! queue of (deadline, connection) entries, popped only when a deadline passes,
//! held every request of the last `--timeout` seconds: 24 MB at 150,000 requests/s
//! with the 10 s default, touched by cache misses.) Starting, ending and expiring a
//! request are O(1).

const NONE: u32 = u32::MAX;

/// A connection's place in the queue. Whether it is queued at all is derived: it is
/// the head, or it has a predecessor (see [`Deadlines::queued`]).
#[derive(Debug, Clone, Copy)]
struct Node {
    deadline: u64,
    prev: u32,
    next: u32,
}

const UNLINKED: Node = Node {
    deadline: 0,
    prev: NONE,
    next: NONE,
};

#[derive(Debug)]
pub struct Deadlines {
    nodes: Vec<Node>,
    head: u32,
    tail: u32,
    len: usize,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            nodes: Vec::new(),
            head: NONE,
            tail: NONE,
            len: 0,
        }
    }
}

impl Deadlines {
    /// Connection `i` started a request due to time out at `deadline`. A request
    /// already queued for `i` is replaced. Deadlines arrive in start order (one
    /// timeout for all requests, a monotonic clock), except that requests started in
    /// one loop iteration may carry start times a few microseconds apart in either
    /// order; such a deadline is raised to the last one queued, so the front stays
    /// the earliest (a timeout fires at most those microseconds late).
    pub fn push(&mut self, i: usize, deadline: u64) {
        if i >= self.nodes.len() {
            self.nodes.resize(i + 1, UNLINKED);
        }
        self.remove(i);
        let deadline = match self.tail {
            NONE => deadline,
            t => deadline.max(self.nodes[t as usize].deadline),
        };
        self.nodes[i] = Node {
            deadline,
            prev: self.tail,
            next: NONE,
        };
        match self.tail {
            NONE => self.head = i as u32,
            t => self.nodes[t as usize].next = i as u32,
        }
        self.tail = i as u32;
        self.len += 1;
    }

    /// Connection `i`'s request ended (or expired); a no-op if none is queued.
    pub fn remove(&mut self, i: usize) {
        if !self.queued(i) {
            return;
        }
        let Node { prev, next, .. } = self.nodes[i];
        match prev {
            NONE => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NONE => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
        self.nodes[i] = UNLINKED;
        self.len -= 1;
    }

    /// Connection `i` has a request in the queue.
    fn queued(&self, i: usize) -> bool {
        self.nodes
            .get(i)
            .is_some_and(|n| n.prev != NONE || self.head == i as u32)
    }

    /// The earliest deadline and its connection.
    pub fn front(&self) -> Option<(u64, usize)> {
        match self.head {
            NONE => None,
            h => Some((self.nodes[h as usize].deadline, h as usize)),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
    fn expires_in_start_order_and_forgets_ended_requests() {
        let mut d = Deadlines::default();
        d.push(3, 10);
        d.push(0, 11);
        d.push(7, 12); // grows to 8 connections
        d.push(1, 13);
        assert_eq!(d.len(), 4);
        d.remove(0); // middle
        d.remove(1); // tail
        d.remove(1); // twice: no-op
        d.remove(5); // never queued: no-op
        d.remove(100); // beyond any connection: no-op
        assert_eq!(d.len(), 2);
        d.push(3, 20); // next request on 3: replaces its entry, goes to the back
        d.push(2, 21);
        assert_eq!(drain(&mut d), vec![(12, 7), (20, 3), (21, 2)]);
        // A deadline slightly earlier than the last one queued is raised to it.
        d.push(5, 40);
        d.push(6, 39);
        assert_eq!(drain(&mut d), vec![(40, 5), (40, 6)]);
        assert!(d.is_empty() && d.front().is_none());
        d.push(4, 30); // usable again after emptying
        assert_eq!(d.front(), Some((30, 4)));
    }

    #[test]
    fn holds_one_entry_per_connection_however_many_requests() {
        let mut d = Deadlines::default();
        let conns = 64;
        for n in 0..1_000_000u64 {
            let i = (n % conns) as usize;
            d.push(i, n);
            if n % 3 == 0 {
                d.remove(i); // some requests end before the next one starts
            }
        }
        assert!(d.len() <= conns as usize);
        let left = drain(&mut d);
        assert!(left.windows(2).all(|w| w[0].0 < w[1].0), "deadline order");
        assert_eq!(d.nodes.len(), conns as usize);
        assert_eq!(std::mem::size_of::<Node>(), 16, "16 bytes per connection");
    }
}
