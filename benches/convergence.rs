//! Convergence benchmark: the whole controller against fake Kubernetes API servers (real HTTP,
//! the real kube-rs watchers) and the embedded DNS server (real UDP) or Route53 (the real AWS SDK
//! against the strict fake Route53 served over HTTP).
//!
//! 1. **Convergence latency** (goal: p99 < 250 ms): 3 members × 1,000 LoadBalancer Services, the
//!    controller in-process with the configuration's default timing. Changes are applied one at a
//!    time (a new ingress IP for one Service on one member); each is timed from the write on the
//!    fake API server until the embedded DNS server answers the new IP for that member's zone-level
//!    name, polled over UDP without sleeping.
//! 2. **Controller RSS**, per provider and size (members × Services; 10 labelled nodes per member,
//!    one ready EndpointSlice per Service), seeded before `feddns run` starts as a separate process:
//!    the child's `VmRSS` and `VmHWM` from `/proc/<pid>/status` once the zone has converged, and
//!    again after 1,000 further ingress changes (members round-robin, Services spread, applied at
//!    once) have converged; bytes per name; how long the initial sync and the changes took. Two
//!    providers: `embedded` (the zone in the controller's process, read over UDP) and `route53`
//!    (the controller's AWS SDK at 1,000 requests/s to the strict fake Route53, served over HTTP by
//!    this benchmark run again as another process, so that the controller's memory is measured
//!    alone; the zone read back through the SDK). For Route53 the memory is read once more after
//!    the controller's periodic verify (`verify_interval` 30 s here) has listed the whole zone
//!    again, the peak of a steady state; and the whole zone is listed through the SDK at Route53's
//!    quota of 5 requests/s, as a controller does at start.
//!
//! Environment: `FEDDNS_BENCH_PART=latency|rss` (default both), `FEDDNS_BENCH_CHANGES` (part 1,
//! default 1000), `FEDDNS_BENCH_SEED` (part 1's choice of Services), `FEDDNS_BENCH_LOG` (a tracing
//! filter for the in-process controller of part 1, logged to stderr), `FEDDNS_BENCH_SAMPLES` (a CSV
//! file of part 1's samples: when each change started, its latency, when the controller's counters
//! moved); part 2: `FEDDNS_BENCH_SIZES` (default `1x1000,5x5000,20x5000`, members x Services), or
//! `FEDDNS_BENCH_MEMBERS` / `FEDDNS_BENCH_SERVICES` for one size (default 20 / 5000),
//! `FEDDNS_BENCH_PROVIDERS` (default `embedded,route53`), `FEDDNS_BENCH_RSS_CHANGES` (default
//! 1000). `FEDDNS_BENCH_ROLE` is set by the benchmark in its own child processes.
//! Run with `cargo bench --bench convergence`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use fake_apiserver::FakeApiServer;
use fake_apiserver::fixtures::{lb, node, slice};
use feddns::config::Config;
use feddns::control::controller::{Controller, Stats};
use feddns::control::resolver::{Resolution, Resolve, ResolveError};
use feddns::members::{SourceSettings, Supervisor};
use feddns_embedded::{EmbeddedConfig, EmbeddedProvider};
use feddns_provider::Provider;
use feddns_route53::aws_sdk_route53::config::Credentials;
use feddns_route53::fake::http::{self, FakeRoute53Child};
use feddns_route53::wire::decode_name;
use feddns_route53::{RecordPageStart, Route53Api, Route53Config, Route53Provider, SdkApi};
use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use tokio::sync::{mpsc, oneshot};

const FEDERATION: &str = "fed";
const DOMAIN: &str = "example.com";
const NAMESPACE: &str = "bench";

/// Part 1: members, Services per member, nodes per member.
const LATENCY_MEMBERS: usize = 3;
const LATENCY_SERVICES: usize = 1_000;
const LATENCY_NODES: usize = 3;
/// Changes applied (and waited for) before the measured ones.
const WARMUP_CHANGES: usize = 10;
/// Longest wait for one change to be answered.
const CHANGE_DEADLINE: Duration = Duration::from_secs(30);
/// Interval of part 1's checks for the initial sync (not of the measured polls, which do not sleep).
const SYNC_POLL: Duration = Duration::from_millis(20);
/// Longest wait for part 1's initial sync.
const LATENCY_SYNC_DEADLINE: Duration = Duration::from_secs(120);

/// Part 2: nodes per member, regions (members share them round-robin), zones per region.
const RSS_NODES: usize = 10;
const RSS_REGIONS: usize = 5;
const RSS_ZONES: [&str; 3] = ["a", "b", "c"];
/// Longest wait for the child to converge (after the start, and after the changes).
const RSS_SYNC_DEADLINE: Duration = Duration::from_secs(900);
/// Interval of the convergence checks of part 2 (queries to another process).
const RSS_POLL: Duration = Duration::from_millis(200);
/// The controller's verify interval in part 2: a verify lists the whole zone again.
const RSS_VERIFY: Duration = Duration::from_secs(30);
/// How long the fake sees no further listing request before a verify counts as done.
const RSS_QUIET: Duration = Duration::from_secs(1);

fn main() {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        std::process::exit(serve_role(&role));
    }
    let part = std::env::var("FEDDNS_BENCH_PART").unwrap_or_default();
    let (latency, rss) = match part.as_str() {
        "" | "all" => (true, true),
        "latency" => (true, false),
        "rss" => (false, true),
        other => {
            eprintln!("FEDDNS_BENCH_PART={other:?}: expected latency or rss (or nothing for both)");
            std::process::exit(2);
        }
    };
    if let Ok(filter) = std::env::var("FEDDNS_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let mut failed = false;
    if latency {
        failed |= report("convergence latency", in_runtime(latency_part));
    }
    if rss {
        failed |= report("controller RSS", in_runtime(rss_part));
    }
    if failed {
        std::process::exit(1);
    }
}

/// Prints a part's error; whether it failed.
fn report(part: &str, result: anyhow::Result<()>) -> bool {
    match result {
        Ok(()) => false,
        Err(e) => {
            eprintln!("{part}: FAILED: {e:#}");
            true
        }
    }
}

/// Runs a part in a runtime of its own, dropped afterwards with everything the part started.
fn in_runtime<F: Future<Output = anyhow::Result<()>>>(part: impl FnOnce() -> F) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot build the Tokio runtime")?;
    let result = rt.block_on(part());
    rt.shutdown_timeout(Duration::from_secs(10));
    result
}

fn env_usize(name: &str, default: usize, range: std::ops::RangeInclusive<usize>) -> anyhow::Result<usize> {
    let value = match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("{name}={text:?} is not a number"))?,
        Err(_) => default,
    };
    ensure!(
        range.contains(&value),
        "{name}={value} is out of range ({}..={})",
        range.start(),
        range.end()
    );
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// The federation: objects, names, layout.

/// Where a member's nodes are and how many objects it has.
struct Layout {
    members: usize,
    services: usize,
    nodes: usize,
    /// Member index → (region, zones of its nodes).
    topology: fn(usize) -> (String, Vec<String>),
}

impl Layout {
    fn member_name(&self, m: usize) -> String {
        if self.members > 10 {
            format!("m{m:02}")
        } else {
            format!("m{m}")
        }
    }

    /// Distinct zone and region per member.
    fn latency() -> Self {
        Self {
            members: LATENCY_MEMBERS,
            services: LATENCY_SERVICES,
            nodes: LATENCY_NODES,
            topology: |m| (format!("region-{m}"), vec![format!("zone-{m}")]),
        }
    }

    /// Members share `RSS_REGIONS` regions round-robin; every region has three zones and every
    /// member has nodes in all three (as in the planner benchmark).
    fn rss(members: usize, services: usize) -> Self {
        Self {
            members,
            services,
            nodes: RSS_NODES,
            topology: |m| {
                let region = format!("region-{}", m % RSS_REGIONS);
                let zones = RSS_ZONES.iter().map(|z| format!("{region}-{z}")).collect();
                (region, zones)
            },
        }
    }

    /// Distinct names the controller writes (A sets, without their ownership TXTs).
    fn names(&self) -> usize {
        let mut regions = BTreeSet::new();
        let mut zones = BTreeSet::new();
        for m in 0..self.members {
            let (region, zs) = (self.topology)(m);
            for z in zs {
                zones.insert((region.clone(), z));
            }
            regions.insert(region);
        }
        self.services * (1 + regions.len() + zones.len())
    }

    /// Seeds a member's nodes, Services and EndpointSlices.
    fn seed(&self, api: &FakeApiServer, m: usize) -> anyhow::Result<()> {
        let (region, zones) = (self.topology)(m);
        let member = self.member_name(m);
        for n in 0..self.nodes {
            let zone = &zones[n % zones.len()];
            api.apply(node(&format!("{member}-node-{n}"), Some(zone), Some(&region)))
                .map_err(|e| anyhow!("seeding {member}: {e}"))?;
        }
        for i in 0..self.services {
            let svc = svc_name(i);
            api.apply(lb(NAMESPACE, &svc, &[&initial_ip(m, i).to_string()]))
                .map_err(|e| anyhow!("seeding {member}: {e}"))?;
            api.apply(slice(NAMESPACE, &svc, &[true]))
                .map_err(|e| anyhow!("seeding {member}: {e}"))?;
        }
        Ok(())
    }

    /// The Service numbers checked for convergence: the first, the last, and the last in name
    /// order (plans and batches run in name order).
    fn probes(&self) -> BTreeSet<usize> {
        let last_by_name = (0..self.services).max_by_key(|&i| svc_name(i)).unwrap_or(0);
        [0, self.services - 1, last_by_name].into()
    }
}

fn svc_name(i: usize) -> String {
    format!("svc-{i}")
}

/// `10.<member>.<i / 256>.<i % 256>`: unique per Service per member (members < 256, Services
/// < 65,536, checked where they are read).
fn initial_ip(m: usize, i: usize) -> Ipv4Addr {
    let [_, _, hi, lo] = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
    Ipv4Addr::new(10, u8::try_from(m).unwrap_or(u8::MAX), hi, lo)
}

fn global_name(i: usize) -> String {
    format!("{}.{NAMESPACE}.{FEDERATION}.svc.{DOMAIN}", svc_name(i))
}

fn region_name(i: usize, region: &str) -> String {
    format!("{}.{NAMESPACE}.{FEDERATION}.svc.{region}.{DOMAIN}", svc_name(i))
}

fn zone_name(i: usize, zone: &str, region: &str) -> String {
    format!(
        "{}.{NAMESPACE}.{FEDERATION}.svc.{zone}.{region}.{DOMAIN}",
        svc_name(i)
    )
}

/// The embedded provider serving the zone on `listen`, as a config's `provider` mapping.
fn embedded_provider(listen: SocketAddr) -> String {
    format!("{{ embedded: {{ listen: {listen} }} }}")
}

/// A config file's text with default timing; `provider` is the `provider` mapping.
fn config_text(provider: &str, members: &[(String, PathBuf)]) -> String {
    let mut text = format!(
        "federation: {FEDERATION}\ndomain: {DOMAIN}\nprovider: {provider}\n\
         controller: {{ verify_interval: {}s }}\nmembers:\n",
        RSS_VERIFY.as_secs()
    );
    for (name, kubeconfig) in members {
        // A JSON string is a valid YAML double-quoted scalar.
        let path = serde_json::to_string(&kubeconfig.to_string_lossy()).unwrap_or_default();
        let _ = writeln!(
            text,
            "  - {{ name: {name}, kubeconfig: {path}, context: {name} }}"
        );
    }
    text
}

/// Starts one fake API server per member, seeded, with its kubeconfig in `dir`.
async fn start_members(
    layout: &Layout,
    dir: &Path,
) -> anyhow::Result<(Vec<FakeApiServer>, Vec<(String, PathBuf)>)> {
    let mut apis = Vec::new();
    let mut configs = Vec::new();
    for m in 0..layout.members {
        let api = FakeApiServer::start()
            .await
            .context("cannot start a fake API server")?;
        let name = layout.member_name(m);
        let kubeconfig = dir.join(format!("{name}.kubeconfig"));
        api.write_kubeconfig(&kubeconfig, &name)
            .with_context(|| format!("cannot write {}", kubeconfig.display()))?;
        layout.seed(&api, m)?;
        apis.push(api);
        configs.push((name, kubeconfig));
    }
    Ok((apis, configs))
}

// ---------------------------------------------------------------------------------------------
// DNS.

/// A DNS client for one server over UDP.
struct Dns {
    client: Client<TokioRuntimeProvider>,
    queries: u64,
    errors: u64,
}

impl Dns {
    /// Must be called within the runtime (it spawns the client's background task).
    fn udp(addr: SocketAddr, timeout: Duration) -> Self {
        let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default())
            .with_timeout(Some(timeout))
            .build();
        let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(bg);
        Self {
            client,
            queries: 0,
            errors: 0,
        }
    }

    /// The A answers for `name` (none for NXDOMAIN or no data), or the error.
    async fn a(&mut self, name: &Name) -> Result<Vec<Ipv4Addr>, String> {
        self.queries += 1;
        let resp = match self.client.query(name.clone(), DNSClass::IN, RecordType::A).await {
            Ok(r) => r,
            Err(e) => {
                self.errors += 1;
                return Err(format!("{name} A: {e}"));
            }
        };
        match resp.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            code => {
                self.errors += 1;
                return Err(format!("{name} A: {code:?}"));
            }
        }
        Ok(resp
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect())
    }

    /// The zone's SOA serial.
    async fn serial(&mut self, zone: &Name) -> Result<u32, String> {
        self.queries += 1;
        let resp = self
            .client
            .query(zone.clone(), DNSClass::IN, RecordType::SOA)
            .await
            .map_err(|e| {
                self.errors += 1;
                format!("{zone} SOA: {e}")
            })?;
        resp.answers
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            })
            .ok_or_else(|| format!("{zone} SOA: no SOA in the answer"))
    }
}

fn dns_name(name: &str) -> Name {
    Name::from_ascii(format!("{name}.")).unwrap_or_else(|e| panic!("{name:?} is not a DNS name: {e}"))
}

/// What the benchmark reads of the zone the controller writes.
trait ZoneView {
    /// The A values at `name` (none when it has no A set), or why they could not be read.
    async fn a_values(&mut self, name: &str) -> Result<Vec<Ipv4Addr>, String>;
}

impl ZoneView for Dns {
    async fn a_values(&mut self, name: &str) -> Result<Vec<Ipv4Addr>, String> {
        self.a(&dns_name(name)).await
    }
}

/// Whether the zone shows every member's probe Services: the global names hold every member's
/// IP, and each member's zone and region names hold its own. `Err` says what is missing.
async fn converged(view: &mut impl ZoneView, layout: &Layout) -> Result<(), String> {
    for i in layout.probes() {
        let name = global_name(i);
        let got = view.a_values(&name).await?;
        for m in 0..layout.members {
            let want = initial_ip(m, i);
            if !got.contains(&want) {
                return Err(format!("{name}: no {want} yet ({} addresses)", got.len()));
            }
        }
    }
    for m in 0..layout.members {
        let (region, zones) = (layout.topology)(m);
        for i in layout.probes() {
            let want = initial_ip(m, i);
            let names = zones
                .iter()
                .map(|z| zone_name(i, z, &region))
                .chain([region_name(i, &region)]);
            for name in names {
                let got = view.a_values(&name).await?;
                if !got.contains(&want) {
                    return Err(format!("{name}: no {want} yet"));
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Part 1: convergence latency.

/// A resolver that never answers (ingress here has no hostnames).
struct NoResolve;

#[async_trait::async_trait]
impl Resolve for NoResolve {
    async fn resolve(&self, host: &str) -> Result<Resolution, ResolveError> {
        Err(ResolveError::lookup(host, "no resolution in this benchmark"))
    }
}

/// A pseudo-random sequence (xorshift64*), for a reproducible choice of Services.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

/// When the controller's counters first moved after a change (since the write).
#[derive(Default)]
struct Stages {
    /// The member event reached the controller.
    event: Option<Duration>,
    /// A plan was computed.
    planned: Option<Duration>,
    /// The provider accepted the changes (the applier returned).
    applied: Option<Duration>,
}

fn counters(stats: &Stats) -> [u64; 3] {
    [
        stats.member_events.load(Ordering::SeqCst),
        stats.plans.load(Ordering::SeqCst),
        stats.changes_applied.load(Ordering::SeqCst),
    ]
}

fn totals(stats: &Stats) -> [u64; 5] {
    [
        stats.member_events.load(Ordering::SeqCst),
        stats.plans.load(Ordering::SeqCst),
        stats.provider_lists.load(Ordering::SeqCst),
        stats.provider_applies.load(Ordering::SeqCst),
        stats.changes_applied.load(Ordering::SeqCst),
    ]
}

/// Applies a new ingress IP to one Service of one member and polls DNS until the member's zone
/// name answers it. Returns the latency and when the controller's counters moved.
async fn one_change(
    api: &FakeApiServer,
    dns: &mut Dns,
    stats: &Stats,
    qname: &Name,
    svc: &str,
    ip: Ipv4Addr,
) -> anyhow::Result<(Duration, Stages)> {
    let before = counters(stats);
    let obj = lb(NAMESPACE, svc, &[&ip.to_string()]);
    let started = Instant::now();
    api.apply(obj).map_err(|e| anyhow!("apply {svc}: {e}"))?;
    let mut stages = Stages::default();
    loop {
        let got = dns.a(qname).await;
        let elapsed = started.elapsed();
        let [events, plans, applied] = counters(stats);
        if stages.event.is_none() && events > before[0] {
            stages.event = Some(elapsed);
        }
        if stages.planned.is_none() && plans > before[1] {
            stages.planned = Some(elapsed);
        }
        if stages.applied.is_none() && applied > before[2] {
            stages.applied = Some(elapsed);
        }
        if got.as_ref().is_ok_and(|ips| ips.contains(&ip)) {
            // DNS may answer before the applier returns and counts the changes: wait for that
            // (untimed), so that the next change starts from settled counters.
            while stats.changes_applied.load(Ordering::SeqCst) == before[2]
                && started.elapsed() < CHANGE_DEADLINE
            {
                tokio::task::yield_now().await;
            }
            return Ok((elapsed, stages));
        }
        if elapsed > CHANGE_DEADLINE {
            bail!("{qname} does not answer {ip} {CHANGE_DEADLINE:?} after the change; last answer: {got:?}");
        }
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `count, min, p50, p90, p99, max` of samples, in ms.
fn distribution(samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return "count 0".into();
    }
    format!(
        "count {}, min {:.1}, p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
        sorted.len(),
        ms(sorted[0]),
        ms(percentile(&sorted, 50.0)),
        ms(percentile(&sorted, 90.0)),
        ms(percentile(&sorted, 99.0)),
        ms(sorted[sorted.len() - 1]),
    )
}

async fn latency_part() -> anyhow::Result<()> {
    let changes = env_usize("FEDDNS_BENCH_CHANGES", 1_000, 1..=1_000_000)?;
    let seed = match std::env::var("FEDDNS_BENCH_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .with_context(|| format!("FEDDNS_BENCH_SEED={s:?}"))?,
        Err(_) => 0x5EED_F00D_u64,
    };
    ensure!(seed != 0, "FEDDNS_BENCH_SEED must not be 0");
    let layout = Layout::latency();
    println!("== part 1: convergence latency ==");

    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let t = Instant::now();
    let (apis, members) = start_members(&layout, dir.path()).await?;
    let path = dir.path().join("config.yaml");
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    std::fs::write(&path, config_text(&embedded_provider(listen), &members))?;
    let cfg = Config::load(&path)?;
    let c = &cfg.controller;
    println!(
        "parameters: {} members x {} LoadBalancer Services (namespace {NAMESPACE}, 1 ingress IP and 1 ready \
         EndpointSlice each), {} nodes per member, one zone and region per member; controller in-process \
         with the config's default timing: debounce {}, max_debounce {}, watch_backoff {}; embedded DNS \
         provider over UDP; seeded in {:.2} s",
        layout.members,
        layout.services,
        layout.nodes,
        c.debounce,
        c.max_debounce,
        c.watch_backoff,
        t.elapsed().as_secs_f64()
    );

    let provider = EmbeddedProvider::start(EmbeddedConfig {
        zone: DOMAIN.into(),
        listen,
    })
    .await
    .context("cannot start the embedded DNS provider")?;
    let dns_addr = provider.local_addr();
    let started = Instant::now();
    let controller = Controller::new(&cfg, Arc::new(provider), Arc::new(NoResolve), false);
    let stats = controller.stats();
    let (tx, rx) = mpsc::channel(1024);
    let mut supervisor = Supervisor::new(tx, SourceSettings::from_config(&cfg));
    supervisor
        .reconcile(&cfg.members, &cfg.selection())
        .await
        .map_err(|errors| anyhow!("{}", errors.join("\n")))?;
    let reload = tokio::spawn(feddns::cli::follow_config(path, cfg, supervisor));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        controller
            .run(rx, async {
                let _ = stopped.await;
            })
            .await
    });

    let mut dns = Dns::udp(dns_addr, Duration::from_secs(1));
    let result = measure(&layout, &apis, &mut dns, &stats, started, changes, seed).await;

    let _ = stop.send(());
    let ended = task.await;
    reload.abort();
    for api in &apis {
        api.stop().await;
    }
    result?;
    ended
        .context("the controller task panicked")?
        .context("the controller failed")?;
    Ok(())
}

async fn measure(
    layout: &Layout,
    apis: &[FakeApiServer],
    dns: &mut Dns,
    stats: &Stats,
    started: Instant,
    changes: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let end = started + LATENCY_SYNC_DEADLINE;
    loop {
        match converged(dns, layout).await {
            Ok(()) => break,
            Err(e) if Instant::now() > end => {
                bail!("initial sync not complete within {LATENCY_SYNC_DEADLINE:?}: {e}")
            }
            Err(_) => tokio::time::sleep(SYNC_POLL).await,
        }
    }
    println!(
        "initial sync: {} Services x {} members ({} names) answered after {:.2} s",
        layout.services,
        layout.members,
        layout.names(),
        started.elapsed().as_secs_f64()
    );

    let mut rng = Rng(seed);
    let mut seq: u32 = 0;
    let mut samples = Vec::with_capacity(changes);
    let mut stages = Vec::with_capacity(changes);
    let (mut queries, mut errors, mut before) = (0, 0, totals(stats));
    let csv_path = std::env::var_os("FEDDNS_BENCH_SAMPLES").map(PathBuf::from);
    let mut csv = String::from("change,member,service,start_ms,latency_ms,event_ms,planned_ms,applied_ms\n");
    let t = Instant::now();
    for k in 0..WARMUP_CHANGES + changes {
        if k == WARMUP_CHANGES {
            (queries, errors, before) = (dns.queries, dns.errors, totals(stats));
        }
        let m = k % layout.members;
        let i = rng.below(layout.services);
        let (region, zones) = (layout.topology)(m);
        seq += 1;
        let ip = changed_ip(seq);
        let qname = dns_name(&zone_name(i, &zones[0], &region));
        let at = t.elapsed();
        let (latency, stage) = one_change(&apis[m], dns, stats, &qname, &svc_name(i), ip).await?;
        if csv_path.is_some() {
            let opt = |d: Option<Duration>| d.map(|d| format!("{:.3}", ms(d))).unwrap_or_default();
            let _ = writeln!(
                csv,
                "{k},{m},{i},{:.3},{:.3},{},{},{}",
                ms(at),
                ms(latency),
                opt(stage.event),
                opt(stage.planned),
                opt(stage.applied)
            );
        }
        if k >= WARMUP_CHANGES {
            samples.push(latency);
            stages.push(stage);
        }
    }
    let wall = t.elapsed();
    if let Some(path) = &csv_path {
        std::fs::write(path, csv).with_context(|| format!("cannot write {}", path.display()))?;
        println!("samples (warm-up included) written to {}", path.display());
    }
    let after = totals(stats);
    let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    let per = |n: u64| n as f64 / changes as f64;

    println!(
        "changes: {changes} measured (after {WARMUP_CHANGES} warm-up changes), one at a time, member \
         round-robin, Service pseudo-random (xorshift64*, seed {seed}); each a new unique ingress IP \
         applied to the member's fake API server, timed until the embedded DNS server answers it for \
         svc-N.{NAMESPACE}.{FEDERATION}.svc.<zone>.<region>.{DOMAIN} A (UDP, polled without sleeping)"
    );
    println!("latency (ms): {}", distribution(&samples));
    let stage = |f: fn(&Stages) -> Option<Duration>| {
        let got: Vec<Duration> = stages.iter().filter_map(f).collect();
        let missed = stages.len() - got.len();
        let mut line = distribution(&got);
        if missed > 0 {
            let _ = write!(
                line,
                " (for {missed} changes DNS answered before this counter moved)"
            );
        }
        line
    };
    println!(
        "  stage: member event received by the controller (ms): {}",
        stage(|s| s.event)
    );
    println!("  stage: plan computed (ms): {}", stage(|s| s.planned));
    println!(
        "  stage: changes accepted by the provider (ms): {}",
        stage(|s| s.applied)
    );
    println!(
        "  (stages are seen between two DNS polls: {} queries in {:.1} s, {:.0} per change, {} errors)",
        dns.queries - queries,
        wall.as_secs_f64(),
        per(dns.queries - queries),
        dns.errors - errors
    );
    println!(
        "controller stats during the measured changes: member events {}, plans {}, provider lists {}, \
         provider applies {} ({:.2} per change), changes applied {} ({:.2} per change)",
        delta[0],
        delta[1],
        delta[2],
        delta[3],
        per(delta[3]),
        delta[4],
        per(delta[4])
    );
    println!(
        "controller stats since start: member events {}, plans {}, provider lists {}, provider applies {}, \
         changes applied {}",
        after[0], after[1], after[2], after[3], after[4]
    );
    let mut sorted = samples.clone();
    sorted.sort();
    let p99 = percentile(&sorted, 99.0);
    let verdict = if p99 < Duration::from_millis(250) {
        "met"
    } else {
        "MISSED"
    };
    println!("goal p99 < 250 ms: {verdict} (p99 {:.1} ms)", ms(p99));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Part 2: controller RSS, per provider and size.

/// Set in the benchmark's own child processes: the role they play instead of benchmarking.
const ROLE_VAR: &str = "FEDDNS_BENCH_ROLE";
/// The role serving the strict fake Route53 over HTTP, holding the zone `DOMAIN`.
const ROLE_ROUTE53_FAKE: &str = "route53-fake";
/// Part 2's sizes unless configured: members x Services.
const RSS_SIZES: &str = "1x1000,5x5000,20x5000";
/// The controller's request rate against the fake Route53 (no practical limit).
const RSS_ROUTE53_RPS: u32 = 1_000;
/// Static credentials for the fake Route53 (it checks none).
const RSS_AWS_KEY_ID: &str = "AKIDFEDDNSBENCH";
const RSS_AWS_SECRET: &str = "feddns-bench-secret";

/// The `feddns run` child: killed (and reaped) when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 (free now; the child binds it soon after).
fn free_port() -> anyhow::Result<SocketAddr> {
    for _ in 0..16 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let addr = udp.local_addr()?;
        if std::net::TcpListener::bind(addr).is_ok() {
            return Ok(addr);
        }
    }
    bail!("no port free for both UDP and TCP on 127.0.0.1")
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| anyhow!("{path} has no {field}"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs this process as one of the benchmark's helpers (see [`ROLE_VAR`]); the exit code.
fn serve_role(role: &str) -> i32 {
    let result = match role {
        ROLE_ROUTE53_FAKE => in_runtime(|| async {
            http::serve_standalone(&[DOMAIN])
                .await
                .context("cannot serve the fake Route53")
        }),
        other => Err(anyhow!("{ROLE_VAR}={other:?}: expected {ROLE_ROUTE53_FAKE}")),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

/// The provider the controller writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProviderKind {
    /// The embedded DNS server, in the controller's process.
    Embedded,
    /// Route53 through the AWS SDK, served by the strict fake in a process of its own.
    Route53,
}

impl ProviderKind {
    const ALL: [Self; 2] = [Self::Embedded, Self::Route53];

    fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Route53 => "route53",
        }
    }
}

/// `FEDDNS_BENCH_PROVIDERS`: a comma-separated list of `embedded` and `route53` (default both).
fn rss_providers() -> anyhow::Result<Vec<ProviderKind>> {
    let Ok(text) = std::env::var("FEDDNS_BENCH_PROVIDERS") else {
        return Ok(ProviderKind::ALL.to_vec());
    };
    text.split(',')
        .map(|name| {
            ProviderKind::ALL
                .into_iter()
                .find(|k| k.name() == name.trim())
                .ok_or_else(|| {
                    anyhow!("FEDDNS_BENCH_PROVIDERS={text:?}: {name:?} is not embedded or route53")
                })
        })
        .collect()
}

/// `FEDDNS_BENCH_SIZES` (`MxS,...`: members x Services per member); without it,
/// `FEDDNS_BENCH_MEMBERS` / `FEDDNS_BENCH_SERVICES` give one size (default 20 x 5,000), and
/// without those [`RSS_SIZES`].
fn rss_sizes() -> anyhow::Result<Vec<(usize, usize)>> {
    let (members, services) = (1..=255, 1..=65_536);
    let text = match std::env::var("FEDDNS_BENCH_SIZES") {
        Ok(text) => text,
        Err(_)
            if ["FEDDNS_BENCH_MEMBERS", "FEDDNS_BENCH_SERVICES"]
                .iter()
                .any(|v| std::env::var_os(v).is_some()) =>
        {
            return Ok(vec![(
                env_usize("FEDDNS_BENCH_MEMBERS", 20, members)?,
                env_usize("FEDDNS_BENCH_SERVICES", 5_000, services)?,
            )]);
        }
        Err(_) => RSS_SIZES.to_string(),
    };
    text.split(',')
        .map(|size| {
            let parsed = size.trim().split_once('x').and_then(|(m, s)| {
                let (m, s) = (m.parse().ok()?, s.parse().ok()?);
                (members.contains(&m) && services.contains(&s)).then_some((m, s))
            });
            parsed.ok_or_else(|| {
                anyhow!(
                    "FEDDNS_BENCH_SIZES={text:?}: {size:?} is not MEMBERSxSERVICES with 1..=255 members \
                     and 1..=65536 Services"
                )
            })
        })
        .collect()
}

/// Settings of an SDK client or provider for the fake Route53 at `endpoint`.
fn route53_config(endpoint: &str, requests_per_second: f64) -> Route53Config {
    Route53Config {
        zone_name: Some(DOMAIN.into()),
        endpoint_url: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        requests_per_second,
        ..Route53Config::default()
    }
}

/// Where the controller writes the zone, and how the benchmark reads it back.
enum Target {
    /// The embedded DNS server in the controller's process, read over UDP.
    Embedded { listen: SocketAddr, dns: Dns },
    /// The strict fake Route53 in a process of its own (this benchmark, run again with
    /// [`ROLE_VAR`]), read through the AWS SDK.
    Route53 {
        fake: FakeRoute53Child,
        api: Arc<SdkApi>,
        zone_id: String,
    },
}

impl Target {
    async fn start(kind: ProviderKind) -> anyhow::Result<Self> {
        match kind {
            ProviderKind::Embedded => {
                let listen = free_port()?;
                Ok(Self::Embedded {
                    listen,
                    dns: Dns::udp(listen, Duration::from_secs(1)),
                })
            }
            ProviderKind::Route53 => {
                let exe = std::env::current_exe().context("cannot find the benchmark's executable")?;
                let mut cmd = Command::new(exe);
                cmd.env(ROLE_VAR, ROLE_ROUTE53_FAKE);
                let fake = tokio::task::spawn_blocking(move || FakeRoute53Child::spawn(cmd))
                    .await
                    .context("the fake Route53's launcher panicked")??;
                let cfg = route53_config(fake.endpoint(), f64::from(RSS_ROUTE53_RPS));
                let credentials = Credentials::new(RSS_AWS_KEY_ID, RSS_AWS_SECRET, None, None, "static");
                let api = Arc::new(SdkApi::with_credentials(&cfg, credentials).await);
                let zone_id = Route53Provider::with_api_config(api.clone(), &cfg)
                    .await
                    .context("no zone on the fake Route53")?
                    .zone_id()
                    .to_string();
                Ok(Self::Route53 { fake, api, zone_id })
            }
        }
    }

    /// The controller config's `provider` mapping.
    fn provider_yaml(&self) -> String {
        match self {
            Self::Embedded { listen, .. } => embedded_provider(*listen),
            Self::Route53 { fake, .. } => {
                let endpoint = serde_json::to_string(fake.endpoint()).unwrap_or_default();
                format!(
                    "{{ route53: {{ zone_name: {DOMAIN}, endpoint_url: {endpoint}, region: us-east-1, \
                     requests_per_second: {RSS_ROUTE53_RPS} }} }}"
                )
            }
        }
    }

    /// Environment variables of the controller process.
    fn controller_env(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Embedded { .. } => &[],
            Self::Route53 { .. } => &[
                ("AWS_ACCESS_KEY_ID", RSS_AWS_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", RSS_AWS_SECRET),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        }
    }

    /// Changes whenever the zone is written: the SOA serial, or the fake's count of
    /// `ChangeResourceRecordSets` calls.
    async fn version(&mut self) -> Result<u64, String> {
        match self {
            Self::Embedded { dns, .. } => dns.serial(&dns_name(DOMAIN)).await.map(u64::from),
            Self::Route53 { fake, .. } => {
                let calls = http::remote_calls(fake.endpoint())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(calls.get("ChangeResourceRecordSets").copied().unwrap_or(0))
            }
        }
    }
}

impl ZoneView for Target {
    async fn a_values(&mut self, name: &str) -> Result<Vec<Ipv4Addr>, String> {
        match self {
            Self::Embedded { dns, .. } => dns.a_values(name).await,
            Self::Route53 { api, zone_id, .. } => {
                let start = RecordPageStart {
                    name: Some(format!("{name}.")),
                    rtype: Some("A".into()),
                    identifier: None,
                };
                let page = api
                    .list_resource_record_sets(zone_id, &start, 1)
                    .await
                    .map_err(|e| format!("{name} A: {e}"))?;
                Ok(page
                    .sets
                    .first()
                    .filter(|s| s.rtype == "A" && decode_name(&s.name) == name)
                    .map(|s| s.values.iter().filter_map(|v| v.parse().ok()).collect())
                    .unwrap_or_default())
            }
        }
    }
}

/// A process's memory, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
struct Mem {
    /// `VmRSS`, kB.
    rss: u64,
    /// `VmHWM` (peak RSS), kB.
    hwm: u64,
}

impl Mem {
    fn read(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            rss: status_kib(pid, "VmRSS")?,
            hwm: status_kib(pid, "VmHWM")?,
        })
    }
}

/// A listing of the whole zone through the SDK at Route53's request quota.
struct FullList {
    took: Duration,
    sets: usize,
    requests: u64,
}

/// One provider at one size.
struct Row {
    kind: ProviderKind,
    members: usize,
    services: usize,
    names: usize,
    /// From the controller's start until the zone converged.
    sync: Duration,
    synced: Mem,
    changes: usize,
    /// From the first change until every changed name answered its new address.
    changed_in: Duration,
    changed: Mem,
    /// After a verify (Route53 only).
    verified: Option<Mem>,
    /// Route53 only.
    full_list: Option<FullList>,
}

async fn rss_part() -> anyhow::Result<()> {
    let sizes = rss_sizes()?;
    let kinds = rss_providers()?;
    let changes = env_usize("FEDDNS_BENCH_RSS_CHANGES", 1_000, 1..=1_000_000)?;
    println!("== part 2: controller RSS ==");
    println!(
        "`feddns run` as a separate process (default timing) against fake member API servers, one row per \
         provider and size: embedded = the embedded DNS server in the controller's process, read over UDP; \
         route53 = the AWS SDK at {RSS_ROUTE53_RPS} requests/s to the strict fake Route53 served over HTTP by \
         another process, read through the SDK. Each member: {RSS_NODES} labelled nodes over 3 zones, \
         members share {RSS_REGIONS} regions round-robin, every Service has 1 ingress IP and 1 ready \
         EndpointSlice; seeded before the controller starts. Memory of the controller process after the \
         initial sync and after {changes} further ingress changes (round-robin over members, spread over \
         Services, applied at once); both waits end when the zone shows them and has not changed for \
         {RSS_POLL:?}."
    );
    let mut rows = Vec::new();
    let mut failure = None;
    'sizes: for &(members, services) in &sizes {
        let layout = Layout::rss(members, services);
        for &kind in &kinds {
            match rss_row_logged(kind, &layout, changes).await {
                Ok(row) => rows.push(row),
                Err(e) => {
                    failure = Some(e.context(format!("{} at {members} x {services}", kind.name())));
                    break 'sizes;
                }
            }
        }
    }
    print_rss_table(&rows);
    failure.map_or(Ok(()), Err)
}

/// [`rss_row`] in a temporary directory, kept with the controller's log (whose end is shown) when
/// the row fails.
async fn rss_row_logged(kind: ProviderKind, layout: &Layout, changes: usize) -> anyhow::Result<Row> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let log = dir.path().join("feddns.log");
    match rss_row(kind, layout, changes, dir.path(), &log).await {
        Ok(row) => Ok(row),
        Err(e) => {
            let kept = dir.keep();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            eprintln!(
                "feddns log: {} (kept in {}); its last lines:",
                log.display(),
                kept.display()
            );
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
            Err(e)
        }
    }
}

/// `n` distinct (member, Service) pairs: members round-robin, each member's Services evenly
/// spread.
fn change_plan(layout: &Layout, n: usize) -> anyhow::Result<Vec<(usize, usize)>> {
    ensure!(
        n <= layout.members * layout.services,
        "{n} changes need more than {} x {} Services",
        layout.members,
        layout.services
    );
    let stride = (layout.services / n.div_ceil(layout.members)).max(1);
    Ok((0..n)
        .map(|k| (k % layout.members, (k / layout.members) * stride))
        .collect())
}

/// The `seq`-th new ingress address of a change (never one of [`initial_ip`]'s).
fn changed_ip(seq: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + seq)
}

/// Polls until `check` passes and the zone's version is the same at two checks in a row;
/// returns the time since `since`. Fails when the controller exits or after `deadline`.
async fn settle(
    target: &mut Target,
    controller: &mut ChildGuard,
    since: Instant,
    deadline: Duration,
    what: &str,
    mut check: impl AsyncFnMut(&mut Target) -> Result<(), String>,
) -> anyhow::Result<Duration> {
    let mut last = None;
    loop {
        if let Some(status) = controller.0.try_wait()? {
            bail!("feddns exited with {status} before {what} completed");
        }
        let state = match check(target).await {
            Ok(()) => target.version().await,
            Err(e) => Err(e),
        };
        match state {
            Ok(version) if last == Some(version) => return Ok(since.elapsed()),
            Ok(version) => last = Some(version),
            Err(e) if since.elapsed() > deadline => {
                bail!("{what} not complete within {deadline:?}: {e}")
            }
            Err(_) => last = None,
        }
        tokio::time::sleep(RSS_POLL).await;
    }
}

/// Drops from `pending` the names that answer their new address; `Err` while any is left.
async fn still_pending(
    view: &mut impl ZoneView,
    pending: &mut Vec<(String, Ipv4Addr)>,
) -> Result<(), String> {
    let mut left = Vec::new();
    let mut last_error = None;
    for (name, ip) in std::mem::take(pending) {
        match view.a_values(&name).await {
            Ok(got) if got.contains(&ip) => {}
            Ok(_) => left.push((name, ip)),
            Err(e) => {
                last_error = Some(e);
                left.push((name, ip));
            }
        }
    }
    *pending = left;
    match pending.first() {
        None => Ok(()),
        Some((name, ip)) => Err(format!(
            "{} changed names do not answer their new address yet ({name}: no {ip}){}",
            pending.len(),
            last_error
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        )),
    }
}

/// Lists the whole zone through the SDK at Route53's default quota (`requests_per_second: 5`), as a
/// controller does at start and on every verify.
async fn time_full_list(api: Arc<SdkApi>) -> anyhow::Result<FullList> {
    let cfg = Route53Config {
        zone_name: Some(DOMAIN.into()),
        ..Route53Config::default()
    };
    let provider = Route53Provider::with_api_config(api, &cfg).await?;
    let t = Instant::now();
    let sets = provider.list().await?.len();
    let took = t.elapsed();
    Ok(FullList {
        took,
        sets,
        requests: provider.api_calls()["ListResourceRecordSets"],
    })
}

async fn rss_row(
    kind: ProviderKind,
    layout: &Layout,
    changes: usize,
    dir: &Path,
    log: &Path,
) -> anyhow::Result<Row> {
    let plan = change_plan(layout, changes)?;
    let t = Instant::now();
    let (apis, configs) = start_members(layout, dir).await?;
    let seeded = t.elapsed();
    let mut target = Target::start(kind).await?;
    let path = dir.join("config.yaml");
    std::fs::write(&path, config_text(&target.provider_yaml(), &configs))?;

    let out = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_feddns"));
    cmd.arg("run")
        .arg("--config")
        .arg(&path)
        .envs(target.controller_env().iter().copied())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let mut controller = ChildGuard(cmd.spawn().context("cannot start feddns")?);
    let pid = controller.0.id();
    let (what, size) = (kind.name(), format!("{} x {}", layout.members, layout.services));
    println!(
        "{what} {size}: {} names; seeded in {:.2} s; controller pid {pid}",
        layout.names(),
        seeded.as_secs_f64()
    );

    let sync = settle(
        &mut target,
        &mut controller,
        started,
        RSS_SYNC_DEADLINE,
        "the initial sync",
        async |t| converged(t, layout).await,
    )
    .await?;
    let synced = Mem::read(pid)?;
    println!(
        "{what} {size}: initial sync {:.2} s; VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        sync.as_secs_f64(),
        mib(synced.rss),
        mib(synced.hwm)
    );

    let t = Instant::now();
    let mut pending = Vec::with_capacity(plan.len());
    for (seq, &(m, i)) in (1..).zip(&plan) {
        let ip = changed_ip(seq);
        apis[m]
            .apply(lb(NAMESPACE, &svc_name(i), &[&ip.to_string()]))
            .map_err(|e| anyhow!("change {seq}: {e}"))?;
        let (region, zones) = (layout.topology)(m);
        pending.push((zone_name(i, &zones[0], &region), ip));
    }
    let changed_in = settle(
        &mut target,
        &mut controller,
        t,
        RSS_SYNC_DEADLINE,
        "the changes",
        async |t| still_pending(t, &mut pending).await,
    )
    .await?;
    let changed = Mem::read(pid)?;
    println!(
        "{what} {size}: {changes} changes answered after {:.2} s; VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        changed_in.as_secs_f64(),
        mib(changed.rss),
        mib(changed.hwm)
    );
    // The periodic verify lists the whole zone again while the cache is held: the peak of a
    // steady state. Seen for Route53 through the fake's count of listing requests.
    let verified = match &target {
        Target::Embedded { .. } => None,
        Target::Route53 { fake, .. } => {
            let listings = async || -> anyhow::Result<u64> {
                let calls = http::remote_calls(fake.endpoint()).await?;
                Ok(calls.get("ListResourceRecordSets").copied().unwrap_or(0))
            };
            let before = listings().await?;
            // A page holds at most 300 sets; the controller lists with the largest pages.
            let pages = u64::try_from(2 * layout.names() / 300).unwrap_or(u64::MAX);
            let deadline = Instant::now() + RSS_VERIFY + RSS_SYNC_DEADLINE;
            let mut last = before;
            let mut quiet_since = Instant::now();
            loop {
                if let Some(status) = controller.0.try_wait()? {
                    bail!("the controller exited with {status} before a verify");
                }
                let now = listings().await?;
                if now != last {
                    last = now;
                    quiet_since = Instant::now();
                }
                if now >= before + pages && quiet_since.elapsed() >= RSS_QUIET {
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "no verify listing within {:?}",
                    deadline.duration_since(t)
                );
                tokio::time::sleep(RSS_POLL).await;
            }
            let m = Mem::read(pid)?;
            println!(
                "{what} {size}: after a verify ({} listing requests): VmRSS {:.1} MiB, VmHWM {:.1} MiB",
                last - before,
                mib(m.rss),
                mib(m.hwm)
            );
            Some(m)
        }
    };
    drop(controller);

    let full_list = match &target {
        Target::Embedded { .. } => None,
        Target::Route53 { fake, api, .. } => {
            let held = Mem::read(fake.id())?;
            let list = time_full_list(api.clone()).await?;
            println!(
                "{what} {size}: the fake Route53 process holds VmRSS {:.1} MiB; a full listing at Route53's \
                 quota of {} requests/s: {} sets in {} requests, {:.1} s",
                mib(held.rss),
                Route53Config::default().requests_per_second,
                list.sets,
                list.requests,
                list.took.as_secs_f64()
            );
            Some(list)
        }
    };
    Ok(Row {
        kind,
        members: layout.members,
        services: layout.services,
        names: layout.names(),
        sync,
        synced,
        changes,
        changed_in,
        changed,
        verified,
        full_list,
    })
}

fn print_rss_table(rows: &[Row]) {
    let Some(first) = rows.first() else { return };
    println!();
    println!(
        "{:<9} {:>9} {:>7} {:>8} {:>10} {:>10} {:>7} {:>9} {:>10} {:>10} {:>13} {:>22}",
        "provider",
        "members",
        "names",
        "sync s",
        "RSS MiB",
        "HWM MiB",
        "B/name",
        format!("{} ch. s", first.changes),
        "RSS MiB",
        "HWM MiB",
        "verify HWM",
        "full list at 5/s",
    );
    for r in rows {
        let list = r.full_list.as_ref().map_or_else(
            || "-".to_string(),
            |l| format!("{:.1} s ({} req.)", l.took.as_secs_f64(), l.requests),
        );
        let verify = r
            .verified
            .map_or_else(|| "-".to_string(), |m| format!("{:.1}", mib(m.hwm)));
        println!(
            "{:<9} {:>9} {:>7} {:>8.2} {:>10.1} {:>10.1} {:>7} {:>9.2} {:>10.1} {:>10.1} {:>13} {:>22}",
            r.kind.name(),
            format!("{}x{}", r.members, r.services),
            r.names,
            r.sync.as_secs_f64(),
            mib(r.synced.rss),
            mib(r.synced.hwm),
            r.synced.rss * 1024 / r.names.max(1) as u64,
            r.changed_in.as_secs_f64(),
            mib(r.changed.rss),
            mib(r.changed.hwm),
            verify,
            list,
        );
    }
}
