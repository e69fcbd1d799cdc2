//! Planner benchmark: 20 members × 5,000 LoadBalancer Services, 3 zones per member.
//!
//! Prints: the time of a full plan (index → desired → diff against an empty zone), the time to
//! re-plan after one Service changes, and the memory the index holds. Run with `cargo bench`.
//! Goals (issue 2): full plan ≤ 1 s, re-plan ≤ 1 ms, index ≤ 200 MB.

use std::time::{Duration, Instant};

use feddns::federation::diff::ZoneCache;
use feddns::federation::index::Index;
use feddns::federation::model::{MemberSnapshot, ServiceKey, Target};
use feddns::federation::names::Naming;
use feddns::federation::plan::{PlanOptions, all_services, plan};
use feddns::federation::planner::{DEFAULT_TTL, NoLookup, PlannerConfig};
use feddns_provider::{Capabilities, Change};

#[path = "support/mod.rs"]
mod support;

use support::{MEMBERS, SERVICES, member_snapshot_of};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let cfg = PlannerConfig::new(
        Naming::new("bench", "example.com").expect("valid naming"),
        DEFAULT_TTL,
        Capabilities::default(),
    );
    let opts = PlanOptions::default();

    let rss_before = rss_bytes();
    let snapshots: Vec<MemberSnapshot> = (0..MEMBERS).map(|m| member_snapshot_of(m, SERVICES, 0)).collect();
    let mut index = Index::new();
    for (m, s) in snapshots.into_iter().enumerate() {
        index.set_snapshot(&format!("member-{m}"), s);
    }
    index.take_dirty();
    let rss_index = rss_bytes().saturating_sub(rss_before);

    let cache = ZoneCache::new("_feddns", &opts.owner_id, "bench");
    let keys = all_services(&index, &cache);
    let (full, p) = best(3, || plan(&index, &cache, &keys, &cfg, &NoLookup, &opts));
    let (creates, _, _) = p.counts();
    println!(
        "full plan: {MEMBERS} members x {SERVICES} services, {} names, {creates} record sets to create: {full:?} (best of 3)",
        p.names.len()
    );

    // Apply it to the cache, as the controller does after the provider accepted it.
    let mut cache = cache;
    let all: Vec<Change> = p.names.into_iter().flat_map(|n| n.changes).collect();
    cache.apply(&all);
    drop(all);
    let steady = plan(&index, &cache, &keys, &cfg, &NoLookup, &opts);
    assert!(steady.is_empty(), "a second full plan must be empty");

    // One Service changes in one member.
    let mut changed = member_snapshot_of(7, SERVICES, 0);
    let key = ServiceKey::new("ns-3", "svc-3");
    if let Some(s) = changed.services.get_mut(&key) {
        s.ingress = vec![Target::Ip("192.0.2.77".parse().expect("ip"))].into();
    }
    let t = Instant::now();
    index.set_snapshot("member-7", changed);
    let update = t.elapsed();
    let dirty = index.take_dirty();
    assert_eq!(dirty.len(), 1);
    let (replan, p) = best(50, || plan(&index, &cache, &dirty, &cfg, &NoLookup, &opts));
    println!(
        "re-plan after one service changed: {replan:?} (best of 50; {} changes); index update from a whole member snapshot: {update:?}",
        p.change_count()
    );
    println!(
        "index memory (RSS growth from building the snapshots and the index): {:.1} MB",
        rss_index as f64 / 1e6
    );
    println!("goals: full plan <= 1 s, re-plan <= 1 ms, index <= 200 MB");
}
