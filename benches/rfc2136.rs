//! RFC 2136 benchmark: the controller (in-process, default timing) writing to real BIND 9 and
//! Knot servers started on loopback, through TSIG-signed UPDATEs.
//!
//! For each server:
//! 1. **Initial sync**: one member with 1,000 LoadBalancer Services in one region and three zones
//!    (each Service has a global, a region and three zone names, each an A set and an ownership
//!    TXT: 10,000 record sets of one record each), handed to the controller as one member
//!    snapshot after it has listed the empty zone. Timed until the controller has applied every
//!    change and the server answers the last name; the UPDATE messages sent are counted, and the
//!    controller's apply calls (a batch too large for one 64 KiB message is refused before it is
//!    sent, and the controller splits it).
//! 2. **One change's latency**: a member event (one Service's ingress IP changes) handed to the
//!    controller, timed until the server answers the new IP for that Service's zone-level name,
//!    polled over UDP without sleeping. The controller's debounce (100 ms by default) is part of
//!    it.
//! 3. **The provider alone**: one replace (the TTL query and the UPDATE, on one connection), and
//!    a listing of the 10,000-set zone (one AXFR).
//!
//! Environment: `FEDDNS_BENCH_SERVERS` (default `bind,knot`), `FEDDNS_BENCH_SERVICES` (default
//! 1000: ten record sets each), `FEDDNS_BENCH_CHANGES` (default 100).
//! Run with `cargo bench --bench rfc2136` (needs `named` and `knotd`; `tests/run-all.sh`
//! installs them).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use feddns::config::Config;
use feddns::control::controller::{Controller, Stats};
use feddns::control::resolver::DnsResolver;
use feddns::federation::model::{ObjectChange, Target};
use feddns::members::MemberEvent;
use feddns_provider::{Change, Provider, RecordSet, RecordType};
use feddns_rfc2136::testing::{DnsServer, KEY_NAME, Kind, Options};
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, RecordType as DnsType};
use tokio::sync::{mpsc, oneshot};

// Only the member snapshot is used here, not the other benchmarks' federation sizes.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

const DOMAIN: &str = "example.com";
const MEMBER: &str = "m0";
/// Longest wait for the initial sync, and for one change.
const SYNC_DEADLINE: Duration = Duration::from_secs(300);
const CHANGE_DEADLINE: Duration = Duration::from_secs(30);
/// Samples of the provider-alone timings.
const REPLACES: usize = 50;
const LISTINGS: usize = 5;

fn main() {
    let servers = match parse_servers() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot build the Tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let mut rows = Vec::new();
    let mut failed = false;
    for kind in servers {
        match rt.block_on(row(kind)) {
            Ok(r) => rows.push(r),
            Err(e) => {
                eprintln!("{}: FAILED: {e:#}", kind.name());
                failed = true;
            }
        }
    }
    print_table(&rows);
    if failed {
        std::process::exit(1);
    }
}

fn parse_servers() -> anyhow::Result<Vec<Kind>> {
    let text = std::env::var("FEDDNS_BENCH_SERVERS").unwrap_or_else(|_| "bind,knot".into());
    text.split(',')
        .map(|s| match s.trim() {
            "bind" => Ok(Kind::Bind),
            "knot" => Ok(Kind::Knot),
            other => bail!("FEDDNS_BENCH_SERVERS: {other:?} is neither bind nor knot"),
        })
        .collect()
}

fn env_usize(name: &str, default: usize, max: usize) -> anyhow::Result<usize> {
    let v = match std::env::var(name) {
        Ok(t) => t
            .trim()
            .parse()
            .with_context(|| format!("{name}={t:?} is not a number"))?,
        Err(_) => default,
    };
    ensure!((1..=max).contains(&v), "{name}={v} is out of range (1..={max})");
    Ok(v)
}

/// One server's figures.
struct Row {
    server: String,
    sets: usize,
    sync: Duration,
    updates: u64,
    applies: u64,
    changes: Vec<Duration>,
    replace_p50: Duration,
    list_p50: Duration,
    transfer_messages: usize,
}

/// The server's version line (`BIND 9.18.49-...`, `knotd (Knot DNS), version 3.2.6`).
fn version(kind: Kind) -> String {
    let flag = if kind == Kind::Bind { "-v" } else { "-V" };
    std::process::Command::new(kind.binary())
        .arg(flag)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| kind.name().to_string())
}

/// A UDP client asking the server for A records.
struct Udp {
    socket: tokio::net::UdpSocket,
    server: SocketAddr,
}

impl Udp {
    async fn new(server: SocketAddr) -> anyhow::Result<Self> {
        let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Ok(Self { socket, server })
    }

    /// The A records of `name` (empty for NXDOMAIN or no answer within a second).
    async fn a(&self, name: &Name) -> anyhow::Result<Vec<Ipv4Addr>> {
        let mut q = Message::query();
        q.add_query(hickory_proto::op::Query::query(name.clone(), DnsType::A));
        self.socket.send_to(&q.to_vec()?, self.server).await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match tokio::time::timeout(Duration::from_secs(1), self.socket.recv(&mut buf)).await {
                Ok(r) => r?,
                Err(_) => return Ok(Vec::new()),
            };
            let m = Message::from_vec(&buf[..n])?;
            if m.metadata.id != q.metadata.id {
                continue;
            }
            return Ok(m
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect());
        }
    }
}

/// The zone-level name of Service `i` (region `region-0`, zone `region-0-a`, as in
/// `support::member_snapshot_of`).
fn zone_name(i: u32) -> anyhow::Result<Name> {
    let text = format!("svc-{i}.ns-{}.bench.svc.region-0-a.region-0.{DOMAIN}.", i % 50);
    Name::from_ascii(&text).map_err(|e| anyhow!("{text}: {e}"))
}

fn config(server: &DnsServer) -> anyhow::Result<Config> {
    let text = format!(
        "federation: bench\ndomain: {DOMAIN}\nowner_id: bench\n\
         provider: {{ rfc2136: {{ server: {}, tsig: {{ name: {KEY_NAME}, secret: {} }} }} }}\n\
         members: [{{ name: {MEMBER}, file: {MEMBER}.yaml }}]\n",
        server.addr(),
        server.secret_base64()
    );
    Config::parse(&text, Path::new("/nowhere/config.yaml")).map_err(|e| anyhow!("{e}"))
}

async fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let end = Instant::now() + deadline;
    while !done() {
        ensure!(Instant::now() < end, "{what}: not within {deadline:?}");
        // Pacing the checks of counters that another task moves.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn row(kind: Kind) -> anyhow::Result<Row> {
    let services = u32::try_from(env_usize("FEDDNS_BENCH_SERVICES", 1000, 20_000)?)?;
    let changes = env_usize("FEDDNS_BENCH_CHANGES", 100, 10_000)?;
    let server = DnsServer::start(kind, Options::default())
        .await
        .map_err(|e| anyhow!(e))?;
    let cfg = config(&server)?;
    let provider = Arc::new(server.provider().await.map_err(|e| anyhow!(e))?);
    let resolver = Arc::new(DnsResolver::new(&cfg.resolver, Duration::from_secs(180))?);
    let controller = Controller::new(&cfg, provider.clone(), resolver, false);
    let stats: Arc<Stats> = controller.stats();
    let (tx, rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(controller.run(rx, async move {
        let _ = stop_rx.await;
    }));
    wait_for("the controller lists the zone", SYNC_DEADLINE, || {
        stats.provider_lists.load(Ordering::SeqCst) > 0
    })
    .await?;

    // 1. Initial sync.
    let snapshot = support::member_snapshot_of(0, services, 0);
    let sets = services as usize * 10;
    let dns = Udp::new(server.addr()).await?;
    let last = zone_name(services - 1)?;
    let started = Instant::now();
    tx.send(MemberEvent::Snapshot {
        member: MEMBER.into(),
        snapshot: snapshot.clone(),
    })
    .await?;
    wait_for("the initial sync", SYNC_DEADLINE, || {
        stats.changes_applied.load(Ordering::SeqCst) >= sets as u64
    })
    .await?;
    while dns.a(&last).await?.is_empty() {
        ensure!(started.elapsed() < SYNC_DEADLINE, "{last} does not answer");
    }
    let sync = started.elapsed();
    let updates = provider.api_stats().calls["UPDATE"];
    let applies = stats.provider_applies.load(Ordering::SeqCst);

    // 2. One change at a time, from the member event to the server's answer.
    let mut samples = Vec::with_capacity(changes);
    for n in 0..changes {
        let i = (n as u32 * 7919) % services;
        let (key, mut svc) = snapshot
            .services
            .iter()
            .find(|(k, _)| k.name.as_str() == format!("svc-{i}"))
            .map(|(k, s)| (k.clone(), s.clone()))
            .context("no such Service")?;
        let ip = Ipv4Addr::from(0x0B00_0000 + n as u32);
        svc.ingress = vec![Target::Ip(IpAddr::V4(ip))].into();
        let qname = zone_name(i)?;
        let applied = stats.changes_applied.load(Ordering::SeqCst);
        let started = Instant::now();
        tx.send(MemberEvent::Changes {
            member: MEMBER.into(),
            changes: vec![ObjectChange::Service(key, Some(svc))],
            resynced: false,
        })
        .await?;
        loop {
            if dns.a(&qname).await?.contains(&ip) {
                break;
            }
            ensure!(
                started.elapsed() < CHANGE_DEADLINE,
                "{qname} does not answer {ip}"
            );
        }
        samples.push(started.elapsed());
        // The next change starts from settled counters (untimed).
        wait_for("the change is counted", CHANGE_DEADLINE, || {
            stats.changes_applied.load(Ordering::SeqCst) > applied
        })
        .await?;
    }
    let _ = stop_tx.send(());
    task.await?.map_err(|e| anyhow!("the controller stopped: {e}"))?;

    // 3. The provider alone.
    let mut listings = Vec::with_capacity(LISTINGS);
    for _ in 0..LISTINGS {
        let t = Instant::now();
        let listed = provider.list().await?;
        listings.push(t.elapsed());
        ensure!(
            listed.len() >= sets,
            "{} sets listed, {sets} written",
            listed.len()
        );
    }
    let transfer_messages = provider.last_transfer().map_or(0, |t| t.messages);
    let mut replaces = Vec::with_capacity(REPLACES);
    let name = format!("bench-replace.{DOMAIN}");
    let mut current = RecordSet::new(&name, RecordType::A, 60, ["192.0.2.0".to_string()]);
    provider.apply(&[Change::create(current.clone())]).await?;
    for n in 1..=REPLACES {
        let next = RecordSet::new(&name, RecordType::A, 60, [format!("192.0.2.{n}")]);
        let t = Instant::now();
        provider.apply(&[Change::replace(current, next.clone())]).await?;
        replaces.push(t.elapsed());
        current = next;
    }
    Ok(Row {
        server: version(kind),
        sets,
        sync,
        updates,
        applies,
        changes: samples,
        replace_p50: median(&mut replaces),
        list_p50: median(&mut listings),
        transfer_messages,
    })
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn print_table(rows: &[Row]) {
    println!(
        "\nRFC 2136 provider, controller in-process with default timing (debounce 100 ms), TSIG hmac-sha256, max_changes_per_update 500"
    );
    println!(
        "{:<58} {:>10} {:>12} {:>18} {:>14} {:>14} {:>22} {:>30}",
        "server",
        "sets",
        "initial sync",
        "UPDATEs (applies)",
        "AXFR (msgs)",
        "replace alone",
        "change p50 / p90",
        "change p99 / max (n)"
    );
    for r in rows {
        let mut c = r.changes.clone();
        c.sort();
        println!(
            "{:<58} {:>10} {:>12} {:>18} {:>14} {:>14} {:>22} {:>30}",
            r.server,
            r.sets,
            format!("{:.2} s", r.sync.as_secs_f64()),
            format!("{} ({})", r.updates, r.applies),
            format!("{} ({})", ms(r.list_p50), r.transfer_messages),
            ms(r.replace_p50),
            format!("{} / {}", ms(pct(&c, 50.0)), ms(pct(&c, 90.0))),
            format!(
                "{} / {} ({})",
                ms(pct(&c, 99.0)),
                ms(c.last().copied().unwrap_or_default()),
                c.len()
            ),
        );
    }
}
