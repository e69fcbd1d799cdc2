//! Memory benchmark: where the controller's bytes go, component by component, counted by a
//! counting global allocator (live bytes = allocated − freed), for the planner benchmark's
//! federation: 20 members × 5,000 LoadBalancer Services, 3 zones per member (105,000 names).
//!
//! Prints the live bytes and bytes per name of: the member snapshots as the watchers hand them
//! over; the index built from them; a full plan (the changes of the initial sync); the
//! controller's provider cache after that sync; the in-memory reference zone; and the embedded
//! provider (its zone and what it serves DNS from). Run with `cargo bench --bench memory`.
//! Environment: `FEDDNS_BENCH_MEMBERS` / `FEDDNS_BENCH_SERVICES` (default 20 / 5000).

use std::alloc::System;

use feddns::diff::ZoneCache;
use feddns::index::Index;
use feddns::model::MemberSnapshot;
use feddns::names::Naming;
use feddns::plan::{PlanOptions, all_services, plan};
use feddns::planner::{DEFAULT_TTL, NoLookup, PlannerConfig};
use feddns_embedded::{EmbeddedConfig, EmbeddedProvider};
use feddns_provider::{Capabilities, Change, MemoryProvider, Provider};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[path = "support/mod.rs"]
mod support;

use support::member_snapshot_of;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not freed.
fn live() -> i64 {
    let s = GLOBAL.stats();
    i64::try_from(s.bytes_allocated).unwrap_or(i64::MAX)
        - i64::try_from(s.bytes_deallocated).unwrap_or(i64::MAX)
        + i64::try_from(s.bytes_reallocated).unwrap_or(0)
}

fn env_u32(name: &str, default: u32) -> u32 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name}={v:?}: expected a number");
            std::process::exit(2)
        }),
        Err(_) => default,
    }
}

struct Table {
    names: usize,
    rows: Vec<(String, i64)>,
}

impl Table {
    fn row(&mut self, what: &str, bytes: i64) {
        self.rows.push((what.to_string(), bytes));
    }

    fn print(&self) {
        println!("| component | MB | bytes per name |");
        println!("|---|---:|---:|");
        for (what, bytes) in &self.rows {
            println!(
                "| {what} | {:.1} | {:.0} |",
                *bytes as f64 / 1e6,
                *bytes as f64 / self.names as f64
            );
        }
    }
}

fn main() {
    let members = env_u32("FEDDNS_BENCH_MEMBERS", support::MEMBERS);
    let services = env_u32("FEDDNS_BENCH_SERVICES", support::SERVICES);
    let cfg = PlannerConfig::new(
        Naming::new("bench", "example.com").expect("valid naming"),
        DEFAULT_TTL,
        Capabilities::default(),
    );
    let opts = PlanOptions::default();

    let base = live();
    let snapshots: Vec<MemberSnapshot> = (0..members).map(|m| member_snapshot_of(m, services, 0)).collect();
    let snapshot_bytes = live() - base;
    let mut index = Index::new();
    for (m, s) in snapshots.into_iter().enumerate() {
        index.set_snapshot(&format!("member-{m}"), s);
    }
    index.take_dirty();
    let index_bytes = live() - base;

    let empty = ZoneCache::new("_feddns", &opts.owner_id, "bench");
    let keys = all_services(&index, &empty);
    let before = live();
    let p = plan(&index, &empty, &keys, &cfg, &NoLookup, &opts);
    let plan_bytes = live() - before;
    let names = p.names.len();
    let groups = p.names;
    let changes: Vec<Change> = groups.iter().flat_map(|n| n.changes.iter().cloned()).collect();
    let sets = changes.len();

    // The sync as the controller does it: the cache records the sets the plan made, then the
    // plan goes; a provider that keeps its sets in memory stores those very sets.
    let before = live();
    let mut cache = ZoneCache::new("_feddns", &opts.owner_id, "bench");
    cache.apply(&changes);
    drop((groups, changes));
    let cache_bytes = live() - before + plan_bytes;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let apply_all = |p: &dyn Provider| {
        let limits = p.limits();
        let mut batch: Vec<Change> = Vec::new();
        let (mut cost, mut chars) = (0, 0);
        rt.block_on(async {
            for set in cache.shared() {
                let c = Change::create(set.clone());
                let (cc, ch) = (c.cost(limits.replace_cost), c.value_chars(limits.replace_cost));
                if cost + cc > limits.max_records_per_batch || chars + ch > limits.max_value_chars_per_batch {
                    p.apply(&batch).await.expect("the provider accepts the sync");
                    batch.clear();
                    (cost, chars) = (0, 0);
                }
                cost += cc;
                chars += ch;
                batch.push(c);
            }
            p.apply(&batch).await.expect("the provider accepts the sync");
        });
    };
    let before = live();
    let memory = MemoryProvider::plain("example.com");
    apply_all(&memory);
    let memory_bytes = live() - before;
    drop(memory);

    let before = live();
    let embedded = rt
        .block_on(EmbeddedProvider::start(EmbeddedConfig {
            zone: "example.com".into(),
            listen: "127.0.0.1:0".parse().expect("an address"),
        }))
        .expect("the embedded provider starts");
    apply_all(&embedded);
    let embedded_bytes = live() - before;

    println!(
        "{members} members × {services} Services: {names} names, {sets} record sets (with the ownership TXTs)"
    );
    let mut t = Table {
        names,
        rows: Vec::new(),
    };
    t.row(
        "member snapshots as handed over (one at a time in a run)",
        snapshot_bytes,
    );
    t.row("index", index_bytes);
    t.row("full plan of the initial sync (while it is applied)", plan_bytes);
    t.row(
        "controller cache after the sync (record sets included)",
        cache_bytes,
    );
    t.row(
        "in-memory reference zone beside the cache (sets shared)",
        memory_bytes,
    );
    t.row("embedded provider beside the cache (sets shared)", embedded_bytes);
    t.print();
    drop((embedded, cache, index));
    drop(rt);
}
