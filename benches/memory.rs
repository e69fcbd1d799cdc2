//! Memory benchmark: where the controller's bytes go, component by component, counted by a
//! counting global allocator (live bytes = allocated − freed), for the planner benchmark's
//! federation: 20 members × 5,000 LoadBalancer Services, 3 zones per member (105,000 names).
//!
//! Prints the live bytes and bytes per name of: the member snapshots as the watchers hand them
//! over; the index built from them; a full plan, as it would be if planned at once (the
//! controller plans 1,000 Services at a time); and the zone after the initial sync as the process
//! keeps it: the controller's cache alone (a remote provider: Route53, Cloud DNS), and the cache
//! beside the in-memory reference zone or the embedded provider, which share its record sets.
//! A second table does the same for hosts of Ingresses: every member has `FEDDNS_BENCH_HOSTS`
//! Ingresses (default 5,000), one host each, the same hosts in every member, each sending to a
//! Service with a ready endpoint: the snapshots, the index (projections, the derived hosts, the
//! host → members map) and a full plan, per host.
//! Run with `cargo bench --bench memory`.
//! Environment: `FEDDNS_BENCH_MEMBERS` / `FEDDNS_BENCH_SERVICES` / `FEDDNS_BENCH_HOSTS` (default
//! 20 / 5000 / 5000).

use std::alloc::System;

use feddns::control::applier::batches;
use feddns::federation::diff::ZoneCache;
use feddns::federation::index::Index;
use feddns::federation::model::{IngressProj, MemberSnapshot, ServiceKey, ServiceOptions, Target};
use feddns::federation::names::Naming;
use feddns::federation::plan::{PlanOptions, all_services, plan};
use feddns::federation::planner::{DEFAULT_TTL, NoLookup, PlannerConfig};
use feddns_embedded::{EmbeddedConfig, EmbeddedProvider};
use feddns_provider::{Capabilities, Change, MemoryProvider, Provider};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[path = "support/mod.rs"]
mod support;

use support::member_snapshot_of;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not freed (the counters already fold in what reallocations grew or
/// shrank).
fn live() -> i64 {
    let s = GLOBAL.stats();
    i64::try_from(s.bytes_allocated).unwrap_or(i64::MAX)
        - i64::try_from(s.bytes_deallocated).unwrap_or(i64::MAX)
}

/// The index of the members' snapshots `snapshots` makes, with the live bytes of the snapshots
/// alone and of the index built from them (which holds the snapshots).
fn indexed(snapshots: impl Iterator<Item = MemberSnapshot>) -> (Index, i64, i64) {
    let base = live();
    let snapshots: Vec<MemberSnapshot> = snapshots.collect();
    let snapshot_bytes = live() - base;
    let mut index = Index::new();
    for (m, s) in snapshots.into_iter().enumerate() {
        index.set_snapshot(&format!("member-{m}"), s);
    }
    index.take_dirty();
    (index, snapshot_bytes, live() - base)
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

    let (index, snapshot_bytes, index_bytes) =
        indexed((0..members).map(|m| member_snapshot_of(m, services, 0)));

    let empty = ZoneCache::new("_feddns", &opts.owner_id, "bench");
    let keys = all_services(&index, &empty);
    let full_plan = || plan(&index, &empty, &keys, &cfg, &NoLookup, &opts);
    let before = live();
    let p = full_plan();
    let plan_bytes = live() - before;
    let (names, sets) = (p.names.len(), p.change_count());
    drop(p);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    // The sync as the controller does it: the provider stores the sets the plan made, the cache
    // records the same sets (shared), then the plan goes. Measured from before the plan to
    // after it is gone, so the sets count where they are kept.
    let sync = |provider: Option<&dyn Provider>| -> (ZoneCache, i64) {
        let before = live();
        let groups = full_plan().names;
        let mut cache = ZoneCache::new("_feddns", &opts.owner_id, "bench");
        if let Some(p) = provider {
            rt.block_on(async {
                for batch in batches(groups.clone(), p.limits()) {
                    let batch: Vec<Change> = batch.into_iter().flat_map(|g| g.changes).collect();
                    p.apply(&batch).await.expect("the provider accepts the sync");
                }
            });
        }
        let changes: Vec<Change> = groups.into_iter().flat_map(|g| g.changes).collect();
        cache.apply(&changes);
        drop(changes);
        (cache, live() - before)
    };
    let (cache, cache_bytes) = sync(None);
    drop(cache);
    let memory = MemoryProvider::plain("example.com");
    let (cache, memory_bytes) = sync(Some(&memory));
    drop((cache, memory));
    let embedded = rt
        .block_on(EmbeddedProvider::start(EmbeddedConfig {
            zone: "example.com".into(),
            listen: "127.0.0.1:0".parse().expect("an address"),
        }))
        .expect("the embedded provider starts");
    let (cache, embedded_bytes) = sync(Some(&embedded));

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
    t.row(
        "full plan of the initial sync (if it were planned at once)",
        plan_bytes,
    );
    t.row(
        "zone after the sync: the controller's cache (Route53, Cloud DNS)",
        cache_bytes,
    );
    t.row(
        "zone after the sync: cache and in-memory reference zone (sets shared)",
        memory_bytes,
    );
    t.row(
        "zone after the sync: cache and embedded provider (sets shared)",
        embedded_bytes,
    );
    t.print();
    drop((embedded, cache, index));
    drop(rt);

    let hosts = env_u32("FEDDNS_BENCH_HOSTS", 5_000);
    let (index, snapshot_bytes, index_bytes) = indexed((0..members).map(|m| ingress_snapshot_of(m, hosts)));
    let keys = all_services(&index, &empty);
    let before = live();
    let p = plan(&index, &empty, &keys, &cfg, &NoLookup, &opts);
    let plan_bytes = live() - before;
    println!(
        "\n{members} members × {hosts} Ingresses (one host each, the same hosts everywhere): {} hosts, {} record sets",
        index.host_count(),
        p.change_count()
    );
    drop(p);
    let mut t = Table {
        names: index.host_count(),
        rows: Vec::new(),
    };
    t.row("member snapshots as handed over", snapshot_bytes);
    t.row("index (projections and hosts of every member)", index_bytes);
    t.row("full plan of the initial sync", plan_bytes);
    t.print();
}

/// Member `m`'s snapshot with `hosts` Ingresses, `host-<i>.example.com` each, at one address,
/// sending to a Service with two ready endpoints.
fn ingress_snapshot_of(m: u32, hosts: u32) -> MemberSnapshot {
    let mut s = member_snapshot_of(m, 0, 0);
    for i in 0..hosts {
        let key = ServiceKey::new(format!("ns-{}", i % 50), format!("web-{i}"));
        let ip = std::net::Ipv4Addr::from(0x0A00_0000 + m * hosts + i);
        s.ingresses.insert(
            key.clone(),
            IngressProj {
                federated: true,
                hosts: Box::new([format!("host-{i}.example.com").into()]),
                addresses: Box::new([Target::Ip(ip.into())]),
                backends: Box::new([key.name.clone()]),
                options: ServiceOptions::default(),
                problems: Box::new([]),
            },
        );
        support::add_ready_slice(&mut s, &key);
    }
    s
}
