//! The scenario hot path allocates nothing once warm (issue 13: "no allocation per
//! request once warm"): a virtual user running examples/shop.toml, rendering every
//! request into a reused buffer and finishing it with captures and cookies, counted by
//! a global allocator that counts this thread's allocations. Its own test binary, so
//! the counting allocator serves nothing else; no sockets (the responses are canned:
//! tests/scenario_demo.rs runs the same flow against the demo server).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use barrage::record::ErrorKind;
use barrage::scenario::compile::LoadOptions;
use barrage::scenario::set::ScenarioSet;
use barrage::scenario::vu::{Next, Response, Vu};

thread_local! {
    /// Allocations (and reallocations) made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

fn count() {
    // try_with: a thread being torn down may allocate after its locals are gone.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the same arguments; the
// counter is a const-initialised thread-local Cell, which never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as for dealloc; the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const LOGIN_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: sid=4.00ff00ff00ff00ff; Path=/; HttpOnly\r\n\r\n";
const LOGIN: &str = r#"{"token": "4.616c696365.0123456789abcdef", "user": "alice"}"#;
const ITEMS: &str = r#"{"items": [{"id": 17, "name": "tea", "price": 3}, {"id": 42, "name": "towel", "price": 12}]}"#;
const PLAIN_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";

/// Runs `n` iterations; returns how many steps were sent.
fn iterations(
    set: &ScenarioSet,
    vu: &mut Vu,
    cursor: &mut Option<barrage::scenario::data::DataCursor>,
    out: &mut Vec<u8>,
    n: usize,
) -> usize {
    let mut steps = 0;
    let mut now = 0;
    for _ in 0..n {
        vu.start_iteration(set, cursor.as_mut(), now);
        loop {
            out.clear();
            vu.render(set, 1_700_000_000_000, out);
            let (head, body) = match vu.current(set).name.as_str() {
                "login" => (LOGIN_HEAD, LOGIN),
                "items" => (PLAIN_HEAD, ITEMS),
                _ => (PLAIN_HEAD, "{}"),
            };
            now += 1_000;
            steps += 1;
            let r = Response {
                kind: ErrorKind::None,
                status: 200,
                head: head.as_bytes(),
                body: body.as_bytes(),
            };
            let f = vu.finish(set, r, now, 1_700_000_000_000);
            assert_eq!(f.kind, ErrorKind::None);
            if let Next::Done { .. } = f.next {
                break;
            }
        }
    }
    steps
}

#[test]
fn a_warm_virtual_user_allocates_nothing() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.toml");
    let set = ScenarioSet::load(&path, &LoadOptions::default()).unwrap();
    let mut cursor = set.cursor(0, 1).unwrap();
    let mut vu = Vu::new(&set, 1, 99);
    let mut out = Vec::new();
    // Warm up: every data row, both scenarios, buffers grown to their working size.
    iterations(&set, &mut vu, &mut cursor, &mut out, 200);
    let before = allocations();
    let steps = iterations(&set, &mut vu, &mut cursor, &mut out, 1_000);
    let made = allocations() - before;
    assert!(steps > 2_000, "{steps}");
    assert_eq!(made, 0, "{made} allocations over {steps} warm requests");
    // The counter does count: one allocation is seen.
    let before = allocations();
    drop(std::hint::black_box(vec![1u8; 64]));
    assert_eq!(allocations() - before, 1);
}
