//! Fault suite: the real controller against fake member API servers (real HTTP, the real kube-rs
//! watchers) and the strict fake Route53, one fault per scenario, one row per scenario:
//!
//! * **converged after**: from the end of the fault (the member back, the restart, the change
//!   made during the fault) until `feddns plan` on the members' current state has nothing left
//!   to do but the expected conflicts. The check is a fresh controller planning against a copy
//!   of the zone, the code path of `feddns plan`, which plans exactly what `feddns run` does.
//! * **owned lost**: wanted record sets missing or wrong at the end, plus names whose ownership
//!   record was deleted during the scenario although the final state still holds them (a name
//!   dropped and written again).
//! * **foreign touched**: accepted changes at names holding someone else's records, plus
//!   foreign sets that differ at the end from what was seeded.
//! * **writes after fencing**: provider calls made by an instance after its fence closed (its
//!   lease not renewed in time, or its process killed); `-` where the scenario fences nothing.
//!
//! The killed controller is `feddns run` as a process of its own, so its zone must live in
//! another process: that scenario runs against moto's server (`FEDDNS_MOTO_SERVER`, else
//! `$HOME/.cache/feddns-moto/bin/moto_server` as `tests/run-all.sh` installs it, else
//! `moto_server` on `PATH`).
//!
//! Environment: `FEDDNS_FAULTS` (a comma-separated subset of the scenario names printed),
//! `FEDDNS_FAULTS_SERVICES` (Services per member, default 100; three members),
//! `FEDDNS_BENCH_LOG` (a tracing filter for the in-process controllers, logged to stderr).
//! Run with `cargo bench --bench faults`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use fake_apiserver::FakeApiServer;
use fake_apiserver::fixtures::{lb, node, slice};
use fake_apiserver::proxy::HangingProxy;
use feddns::config::Config;
use feddns::control::controller::Controller;
use feddns::control::resolver::{Resolution, Resolve, ResolveError};
use feddns::control::runner::Instance;
use feddns::members::MemberEvent;
use feddns::members::snapshot::parse_snapshot;
use feddns_provider::probe::Probe;
use feddns_provider::{Capabilities, Change, Limits, Provider, ProviderError, RecordSet, RecordType};
use feddns_route53::fake::FakeRoute53;
use feddns_route53::moto::MotoZone;
use feddns_route53::{ApiError, Operation, Route53Config, Route53Provider};
use serde_json::{Value, json};
use tokio::time::Instant;

const FEDERATION: &str = "fed";
const DOMAIN: &str = "example.com";
const NAMESPACE: &str = "bench";
const OWNER: &str = "bench";
/// Members: name, region, zone.
const MEMBERS: [(&str, &str, &str); 3] = [
    ("m1", "us-east-1", "us-east-1a"),
    ("m2", "eu-west-1", "eu-west-1a"),
    ("m3", "ap-northeast-1", "ap-northeast-1a"),
];
/// The member grace of the controllers under test.
const GRACE: Duration = Duration::from_secs(3);
/// Longest wait for a scenario to converge.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(180);
/// Interval of the convergence checks.
const POLL: Duration = Duration::from_millis(100);
/// The slow listing of the last scenario.
const SLOW_LIST: Duration = Duration::from_secs(60);
/// The name someone else holds before feddns wants it.
const TAKEN: &str = "taken";

fn main() {
    if let Ok(filter) = std::env::var("FEDDNS_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let services = match std::env::var("FEDDNS_FAULTS_SERVICES")
        .ok()
        .map(|v| v.parse::<usize>())
    {
        None => 100,
        Some(Ok(n)) if (1..=60_000).contains(&n) => n,
        Some(_) => {
            eprintln!("FEDDNS_FAULTS_SERVICES: expected a number from 1 to 60000");
            std::process::exit(2);
        }
    };
    let only: Option<BTreeSet<String>> = std::env::var("FEDDNS_FAULTS").ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let scenarios: [(&str, Scenario); 9] = [
        ("member-down-and-back", |n| Box::pin(member_down_and_back(n))),
        ("watches-expired", |n| Box::pin(watches_expired(n))),
        ("throttled-30pct", |n| Box::pin(throttled(n))),
        ("provider-5xx-burst", |n| Box::pin(server_errors(n))),
        ("killed-mid-apply", |n| Box::pin(killed_mid_apply(n))),
        ("lease-calls-hang", |n| Box::pin(lease_calls_hang(n))),
        ("deleted-while-down", |n| Box::pin(deleted_while_down(n))),
        ("foreign-at-wanted-name", |n| Box::pin(foreign_at_wanted_name(n))),
        ("provider-list-60s", |n| Box::pin(slow_list(n))),
    ];
    if let Some(only) = &only
        && let Some(unknown) = only.iter().find(|o| !scenarios.iter().any(|(n, _)| n == o))
    {
        let names: Vec<&str> = scenarios.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "FEDDNS_FAULTS: unknown scenario {unknown:?}; the scenarios are {}",
            names.join(", ")
        );
        std::process::exit(2);
    }
    println!(
        "fault suite: {} members × {services} Services ({} names, {} record sets with their ownership TXTs)",
        MEMBERS.len(),
        services * (1 + 2 * MEMBERS.len()),
        2 * services * (1 + 2 * MEMBERS.len()),
    );
    let mut rows = Vec::new();
    for (name, scenario) in scenarios {
        if only.as_ref().is_some_and(|o| !o.contains(name)) {
            continue;
        }
        eprintln!("== {name}");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        let result = rt.block_on(scenario(services));
        rt.shutdown_timeout(Duration::from_secs(10));
        rows.push(match result {
            Ok(row) => (name, row),
            Err(e) => (
                name,
                Row {
                    converged: Err(format!("{e:#}")),
                    lost: 0,
                    foreign_touched: 0,
                    writes_after_fencing: None,
                    note: String::new(),
                },
            ),
        });
    }
    print!("{}", table(&rows));
    let failed = rows.iter().any(|(_, r)| !r.passed());
    if failed {
        eprintln!(
            "fault suite: FAILED (goal: every scenario converged, 0 lost, 0 foreign touched, 0 writes after fencing)"
        );
        std::process::exit(1);
    }
}

type Scenario = fn(usize) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<Row>>>>;

/// One scenario's figures.
#[derive(Debug)]
struct Row {
    converged: Result<Duration, String>,
    lost: usize,
    foreign_touched: usize,
    writes_after_fencing: Option<u64>,
    note: String,
}

impl Row {
    fn passed(&self) -> bool {
        self.converged.is_ok()
            && self.lost == 0
            && self.foreign_touched == 0
            && self.writes_after_fencing.unwrap_or(0) == 0
    }
}

fn table(rows: &[(&str, Row)]) -> String {
    let header = [
        "scenario",
        "converged after",
        "owned lost",
        "foreign touched",
        "writes after fencing",
        "notes",
    ];
    let body: Vec<[String; 6]> = rows
        .iter()
        .map(|(name, r)| {
            [
                (*name).to_string(),
                match &r.converged {
                    Ok(d) => format!("{:.2} s", d.as_secs_f64()),
                    Err(e) => format!("FAILED: {e}"),
                },
                r.lost.to_string(),
                r.foreign_touched.to_string(),
                r.writes_after_fencing
                    .map_or_else(|| "-".to_string(), |n| n.to_string()),
                r.note.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 6]| {
        let mut l = String::from("|");
        for (cell, w) in cells.iter().zip(widths) {
            let _ = write!(l, " {cell:<w$} |");
        }
        out.push_str(&l);
        out.push('\n');
    };
    line(header);
    line(widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for row in &body {
        line(row.each_ref().map(String::as_str));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The world: member clusters and a zone.

fn svc_name(i: usize) -> String {
    format!("svc-{i}")
}

/// `10.<member>.<i / 256>.<i % 256>`, plus `salt` in the member octet for changed addresses.
fn ip(m: usize, i: usize, salt: u8) -> String {
    let [_, _, hi, lo] = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
    Ipv4Addr::new(10, u8::try_from(m).unwrap_or(u8::MAX).wrapping_add(salt), hi, lo).to_string()
}

fn global_name(svc: &str) -> String {
    format!("{svc}.{NAMESPACE}.{FEDERATION}.svc.{DOMAIN}")
}

struct Member {
    name: &'static str,
    api: FakeApiServer,
    kubeconfig: PathBuf,
}

/// Where the zone lives.
enum Zone {
    /// The strict fake, in this process.
    Fake { fake: Arc<FakeRoute53>, zone_id: String },
    /// moto's server, another process.
    Moto(Box<MotoZone>),
}

struct World {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    zone: Zone,
    /// Someone else's record sets, seeded before anything runs.
    foreign: Vec<RecordSet>,
}

impl World {
    /// Three members with `services` Services each, and a zone holding foreign records, on the
    /// strict fake (or on moto).
    async fn start(services: usize, moto: bool) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let mut members = Vec::new();
        for (m, (name, region, zone)) in MEMBERS.iter().enumerate() {
            let api = FakeApiServer::start().await.context("a fake API server")?;
            let kubeconfig = dir.path().join(format!("{name}.kubeconfig"));
            api.write_kubeconfig(&kubeconfig, name)?;
            api.apply(node("n1", Some(zone), Some(region)))
                .map_err(|e| anyhow!("seeding {name}: {e}"))?;
            for i in 0..services {
                set_service(&api, &svc_name(i), &ip(m, i, 0))?;
            }
            members.push(Member {
                name,
                api,
                kubeconfig,
            });
        }
        let zone = if moto {
            Zone::Moto(Box::new(MotoZone::start().await.map_err(|e| anyhow!(e))?))
        } else {
            let fake = Arc::new(FakeRoute53::new());
            let zone_id = fake.add_zone(DOMAIN);
            Zone::Fake { fake, zone_id }
        };
        let foreign = vec![
            RecordSet::new(
                "www.example.com",
                RecordType::Cname,
                300,
                ["lb.example.net".into()],
            ),
            RecordSet::new("legacy.example.com", RecordType::A, 300, ["198.51.100.1".into()]),
            RecordSet::new(
                "_dmarc.example.com",
                RecordType::Txt,
                300,
                ["v=DMARC1; p=none".into()],
            ),
            RecordSet::new(&global_name(TAKEN), RecordType::A, 60, ["198.51.100.2".into()]),
        ];
        let world = Self {
            dir,
            members,
            zone,
            foreign,
        };
        let create: Vec<Change> = world.foreign.iter().map(|s| Change::create(s.clone())).collect();
        world
            .reader()
            .await?
            .apply(&create)
            .await
            .context("seeding foreign records")?;
        Ok(world)
    }

    /// A provider for an instance under test: the default request rate, as in production.
    async fn provider(&self) -> anyhow::Result<Arc<dyn Provider>> {
        let cfg = Route53Config {
            zone_name: Some(DOMAIN.into()),
            ..Route53Config::default()
        };
        Ok(match &self.zone {
            Zone::Fake { fake, .. } => Arc::new(Route53Provider::with_api_config(fake.clone(), &cfg).await?),
            Zone::Moto(m) => Arc::new(Route53Provider::with_api_config(m.api.clone(), &cfg).await?),
        })
    }

    /// A provider for the suite itself (seeding, reading), not rate limited.
    async fn reader(&self) -> anyhow::Result<Arc<dyn Provider>> {
        let cfg = Route53Config {
            zone_name: Some(DOMAIN.into()),
            requests_per_second: 10_000.0,
            ..Route53Config::default()
        };
        Ok(match &self.zone {
            Zone::Fake { fake, .. } => Arc::new(Route53Provider::with_api_config(fake.clone(), &cfg).await?),
            Zone::Moto(m) => Arc::new(Route53Provider::with_api_config(m.api.clone(), &cfg).await?),
        })
    }

    /// What the zone holds now: read from the fake's store directly (no API call, so neither
    /// counted nor throttled), or listed from moto.
    async fn sets(&self) -> anyhow::Result<Vec<RecordSet>> {
        match &self.zone {
            Zone::Fake { fake, zone_id } => Ok(fake.record_sets(zone_id)),
            Zone::Moto(_) => Ok(self.reader().await?.list().await?),
        }
    }

    fn fake(&self) -> anyhow::Result<&FakeRoute53> {
        match &self.zone {
            Zone::Fake { fake, .. } => Ok(fake),
            Zone::Moto(_) => bail!("this scenario needs the strict fake"),
        }
    }

    /// A configuration for `members` (indexes), with `extra` settings, written to `file`.
    fn config_text(&self, members: &[usize], provider: &str, extra: &str) -> String {
        let mut text = format!(
            "federation: {FEDERATION}\ndomain: {DOMAIN}\nowner_id: {OWNER}\nprovider: {provider}\n\
             controller: {{ debounce: 50ms, max_debounce: 500ms }}\n\
             safety: {{ member_grace: {}ms }}\nmembers:\n",
            GRACE.as_millis()
        );
        for &m in members {
            let member = &self.members[m];
            let path = serde_json::to_string(&member.kubeconfig.to_string_lossy()).unwrap_or_default();
            let _ = writeln!(
                text,
                "  - {{ name: {}, kubeconfig: {path}, context: {} }}",
                member.name, member.name
            );
        }
        text.push_str(extra);
        text
    }

    fn config(&self, file: &str, members: &[usize], extra: &str) -> anyhow::Result<Config> {
        let path = self.dir.path().join(file);
        let text = self.config_text(
            members,
            &format!("{{ route53: {{ zone_name: {DOMAIN} }} }}"),
            extra,
        );
        std::fs::write(&path, text)?;
        Ok(Config::load(&path)?)
    }

    /// A controller instance on `members`, through a probe.
    async fn instance(
        &self,
        file: &str,
        members: &[usize],
        extra: &str,
    ) -> anyhow::Result<(Instance, Arc<Probe>)> {
        let probe = Probe::new(self.provider().await?);
        let instance = Instance::start(
            self.config(file, members, extra)?,
            probe.clone(),
            Arc::new(NoResolve),
            false,
        )
        .await?;
        Ok((instance, probe))
    }

    /// What `feddns plan` would do now, if the members `up` were the federation: a fresh
    /// controller fed the members' current objects, planning against a copy of the zone.
    async fn check(&self, up: &[usize]) -> anyhow::Result<Check> {
        let cfg = self.config("check.yaml", up, "")?;
        let zone = Arc::new(Frozen {
            sets: self.sets().await?,
            capabilities: self.reader().await?.capabilities(),
        });
        let mut controller = Controller::new(&cfg, zone, Arc::new(NoResolve), true);
        for &m in up {
            let member = &self.members[m];
            let parsed = parse_snapshot(&objects(&member.api), member.name, &cfg.selection())
                .map_err(|e| anyhow!("{e}"))?;
            controller.apply_event(MemberEvent::Snapshot {
                member: member.name.to_string(),
                snapshot: parsed.snapshot,
            });
        }
        let plan = controller.plan_once().await?;
        let (creates, replaces, deletes) = plan.counts();
        Ok(Check {
            missing: creates + replaces,
            leaked: deletes,
            deferred: plan.deferred.len(),
            conflicts: plan.conflicts.iter().map(|c| c.name.clone()).collect(),
        })
    }

    /// Polls [`Self::check`] until the zone is converged for `up`, with `conflicts` the names
    /// expected to be skipped; the time it took.
    async fn converged(&self, up: &[usize], conflicts: &[String]) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let want: BTreeSet<String> = conflicts.iter().cloned().collect();
        let mut last = String::new();
        while start.elapsed() < CONVERGE_DEADLINE {
            let c = self.check(up).await?;
            if c.missing == 0 && c.leaked == 0 && c.deferred == 0 && c.conflicts == want {
                return Ok(start.elapsed());
            }
            last = format!("{c:?}");
            tokio::time::sleep(POLL).await;
        }
        bail!("not converged within {CONVERGE_DEADLINE:?}: {last}")
    }

    /// Polls the zone until `done` holds of its sets; the time it took.
    async fn wait_for(&self, what: &str, done: impl Fn(&[RecordSet]) -> bool) -> anyhow::Result<Duration> {
        let start = Instant::now();
        while start.elapsed() < CONVERGE_DEADLINE {
            if done(&self.sets().await?) {
                return Ok(start.elapsed());
            }
            tokio::time::sleep(POLL).await;
        }
        bail!("{what}: not within {CONVERGE_DEADLINE:?}")
    }

    /// Stops `instance` and reports a run that converged in `converged`: the damage with every
    /// member up and only [`taken`] expected as conflicts, from the batches `probe` saw.
    async fn report(
        &self,
        instance: Instance,
        probe: &Probe,
        converged: Duration,
        note: String,
    ) -> anyhow::Result<Row> {
        let (lost, foreign_touched) = self.damage(&ALL, &taken(), &[probe]).await?;
        instance.stop().await?;
        Ok(Row {
            converged: Ok(converged),
            lost,
            foreign_touched,
            writes_after_fencing: None,
            note,
        })
    }

    /// Owned lost and foreign touched, from the final zone and the batches `probes` saw.
    async fn damage(
        &self,
        up: &[usize],
        conflicts: &[String],
        probes: &[&Probe],
    ) -> anyhow::Result<(usize, usize)> {
        let check = self.check(up).await?;
        let sets = self.sets().await?;
        let names: BTreeSet<&str> = sets.iter().map(|s| s.name.as_str()).collect();
        let foreign: BTreeSet<&str> = self.foreign.iter().map(|s| s.name.as_str()).collect();
        let changes: Vec<Change> = probes.iter().flat_map(|p| p.accepted_changes()).collect();
        // An ownership record deleted at a name that holds one again at the end.
        let dropped = changes
            .iter()
            .filter(|c| matches!(c, Change::Delete { old } if old.rtype == RecordType::Txt && old.name.starts_with("_feddns.") && names.contains(old.name.as_str())))
            .count();
        let touched = changes.iter().filter(|c| foreign.contains(c.name())).count();
        let differ = self.foreign.iter().filter(|f| !sets.contains(f)).count();
        let unexpected = check.conflicts.iter().filter(|c| !conflicts.contains(c)).count();
        Ok((check.missing + dropped, touched + differ + unexpected))
    }
}

/// The member's Nodes, Services and EndpointSlices as one `List` (a snapshot file's form).
fn objects(api: &FakeApiServer) -> String {
    let mut items: Vec<Value> = api.list("v1", "Node");
    items.extend(api.list("v1", "Service"));
    items.extend(api.list("discovery.k8s.io/v1", "EndpointSlice"));
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn set_service(api: &FakeApiServer, svc: &str, ip: &str) -> anyhow::Result<()> {
    api.apply(lb(NAMESPACE, svc, &[ip]))
        .map_err(|e| anyhow!("{svc}: {e}"))?;
    api.apply(slice(NAMESPACE, svc, &[true]))
        .map_err(|e| anyhow!("{svc}: {e}"))?;
    Ok(())
}

fn delete_service(api: &FakeApiServer, svc: &str) {
    api.delete("v1", "Service", Some(NAMESPACE), svc);
    api.delete(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        Some(NAMESPACE),
        &format!("{svc}-abcde"),
    );
}

#[derive(Debug)]
struct Check {
    missing: usize,
    leaked: usize,
    deferred: usize,
    conflicts: BTreeSet<String>,
}

/// A copy of the zone, for planning without calling the provider.
struct Frozen {
    sets: Vec<RecordSet>,
    capabilities: Capabilities,
}

#[async_trait::async_trait]
impl Provider for Frozen {
    fn kind(&self) -> &'static str {
        "frozen"
    }
    fn zone(&self) -> &str {
        DOMAIN
    }
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }
    fn limits(&self) -> Limits {
        Limits::default()
    }
    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
        Ok(self.sets.clone())
    }
    async fn apply(&self, _: &[Change]) -> Result<(), ProviderError> {
        Err(ProviderError::other("a copy of the zone is read only"))
    }
}

struct NoResolve;

#[async_trait::async_trait]
impl Resolve for NoResolve {
    async fn resolve(&self, host: &str) -> Result<Resolution, ResolveError> {
        Err(ResolveError::lookup(host, "no resolution in this benchmark"))
    }
}

const ALL: [usize; 3] = [0, 1, 2];

fn taken() -> Vec<String> {
    Vec::new()
}

/// Changes the address of the first `n` Services of member `m`.
fn change_addresses(world: &World, m: usize, n: usize, salt: u8) -> anyhow::Result<()> {
    for i in 0..n {
        set_service(&world.members[m].api, &svc_name(i), &ip(m, i, salt))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// A member's API server goes away for longer than the grace period, then comes back.
async fn member_down_and_back(services: usize) -> anyhow::Result<Row> {
    let world = World::start(services, false).await?;
    let (instance, probe) = world.instance("c.yaml", &ALL, "").await?;
    world.converged(&ALL, &taken()).await?;
    world.members[1].api.stop().await;
    // Down past the grace: its address leaves the global names (its zone and region names
    // CNAME up the chain); `feddns plan` cannot be asked about a down member, so look.
    let gone = ip(1, 0, 0);
    let down = world
        .wait_for("m2's targets leave the global names", |sets| {
            sets.iter()
                .filter(|s| s.name == global_name(&svc_name(0)))
                .all(|s| !s.values.contains(&gone))
        })
        .await?;
    world.members[1].api.restart().await?;
    let back = world.converged(&ALL, &taken()).await?;
    let note = format!(
        "down: its targets left {:.1} s after it went (grace {:.0} s)",
        down.as_secs_f64(),
        GRACE.as_secs_f64()
    );
    world.report(instance, &probe, back, note).await
}

/// Every watch of every member expires (410 Gone) while Services change.
async fn watches_expired(services: usize) -> anyhow::Result<Row> {
    let world = World::start(services, false).await?;
    let (instance, probe) = world.instance("c.yaml", &ALL, "").await?;
    world.converged(&ALL, &taken()).await?;
    let before = probe.applies();
    for m in &world.members {
        m.api.expire_watches();
    }
    change_addresses(&world, 0, 10, 100)?;
    let converged = world.converged(&ALL, &taken()).await?;
    let batches = probe.applies() - before;
    let note = format!("10 Services changed during the relists; {batches} batches sent");
    world.report(instance, &probe, converged, note).await
}

/// 30 % of every Route53 call is throttled while Services change.
async fn throttled(services: usize) -> anyhow::Result<Row> {
    let world = World::start(services, false).await?;
    let fake = world.fake()?;
    // From the first listing on, through the initial sync and five rounds of changes.
    fake.set_throttling(0.3, 7);
    let (instance, probe) = world.instance("c.yaml", &ALL, "").await?;
    world.converged(&ALL, &taken()).await?;
    let changed = services.min(20);
    let mut slowest = Duration::ZERO;
    for round in 0..5u8 {
        change_addresses(&world, usize::from(round) % MEMBERS.len(), changed, 100 + round)?;
        slowest = slowest.max(world.converged(&ALL, &taken()).await?);
    }
    fake.clear_throttling();
    let calls: u64 = fake.calls().values().sum();
    let throttles: u64 = fake.throttled().values().sum();
    let note = format!(
        "initial sync, then 5 rounds of {changed} changed Services (the slowest round); {throttles} of {calls} calls throttled"
    );
    world.report(instance, &probe, slowest, note).await
}

/// A burst of server errors from Route53 (503 on changes and listings) while Services change.
async fn server_errors(services: usize) -> anyhow::Result<Row> {
    let world = World::start(services, false).await?;
    let (instance, probe) = world.instance("c.yaml", &ALL, "").await?;
    world.converged(&ALL, &taken()).await?;
    let fake = world.fake()?;
    let burst = 12;
    for _ in 0..burst {
        fake.push_error(ApiError::service(
            Operation::ChangeResourceRecordSets,
            503,
            "ServiceUnavailable",
            "Service Unavailable",
        ));
    }
    change_addresses(&world, 1, services.min(50), 100)?;
    let converged = world.converged(&ALL, &taken()).await?;
    let note = format!("{burst} ChangeResourceRecordSets answered 503 in a row");
    world.report(instance, &probe, converged, note).await
}

/// `feddns run` (a process) killed with SIGKILL in the middle of its first, multi-batch apply,
/// then started again.
async fn killed_mid_apply(services: usize) -> anyhow::Result<Row> {
    // At least five batches, so that the kill lands between two of them.
    let services = services.max(400);
    let world = World::start(services, true).await?;
    let Zone::Moto(moto) = &world.zone else {
        bail!("a moto zone")
    };
    let provider = format!(
        "{{ route53: {{ zone_name: {DOMAIN}, endpoint_url: \"{}\", region: us-east-1, requests_per_second: 1 }} }}",
        moto.endpoint()
    );
    let config = world.dir.path().join("run.yaml");
    std::fs::write(&config, world.config_text(&ALL, &provider, ""))?;
    let total = 2 * services * (1 + 2 * MEMBERS.len());
    let foreign: BTreeSet<String> = world.foreign.iter().map(|s| s.name.to_string()).collect();
    let owned = async || -> anyhow::Result<usize> {
        Ok(world
            .sets()
            .await?
            .iter()
            .filter(|s| s.name.contains(&format!(".{FEDERATION}.svc")) && !foreign.contains(s.name.as_str()))
            .count())
    };
    // A batch holds at most 1,000 records (here a name and its ownership TXT, one record
    // each): kill once a batch is in, and not all of them.
    let batch = Limits::default().max_records_per_batch;
    let mut child = Controlled::spawn(&config, &world.dir.path().join("run-1.log"))?;
    let start = Instant::now();
    let mut at_kill = 0;
    while start.elapsed() < CONVERGE_DEADLINE {
        at_kill = owned().await?;
        if at_kill >= batch {
            break;
        }
        child.alive()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure!(
        at_kill >= batch && at_kill < total,
        "the first apply was not caught in the middle ({at_kill} of {total} sets written)"
    );
    child.kill();
    let killed = Instant::now();
    let kill_after = killed.duration_since(start);
    let after_kill = world.sets().await?;
    // Anything that lands from now on was sent by a dead process.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = world.sets().await?;
    let writes_after_kill = u64::from(after_kill != later);
    let mut child = Controlled::spawn(&config, &world.dir.path().join("run-2.log"))?;
    let restarted = Instant::now();
    let converged = world.converged(&ALL, &taken()).await;
    child.alive()?;
    child.kill();
    let converged = converged?;
    let (lost, foreign_touched) = world.damage(&ALL, &taken(), &[]).await?;
    Ok(Row {
        converged: Ok(converged),
        lost,
        foreign_touched,
        writes_after_fencing: Some(writes_after_kill),
        note: format!(
            "moto, {total} sets at 1 request/s; killed {:.1} s in with {at_kill} written; restarted {:.1} s later",
            kill_after.as_secs_f64(),
            restarted.duration_since(killed).as_secs_f64()
        ),
    })
}

/// `feddns run` as a child process, killed when dropped.
struct Controlled(Child);

impl Controlled {
    fn spawn(config: &Path, log: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_feddns"))
            .args(["run", "--config"])
            .arg(config)
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "SECRETTEST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start feddns run")?;
        Ok(Self(child))
    }

    fn alive(&mut self) -> anyhow::Result<()> {
        match self.0.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("feddns run exited with {status}"),
        }
    }

    /// SIGKILL.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Controlled {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two replicas on one Lease; the leader's Lease calls hang (its host API server stops
/// answering it); the other takes over.
async fn lease_calls_hang(services: usize) -> anyhow::Result<Row> {
    let world = World::start(services, false).await?;
    let host = FakeApiServer::start().await?;
    let proxy = HangingProxy::start(host.addr()).await;
    let dir = world.dir.path();
    host.write_kubeconfig(&dir.join("host.kubeconfig"), "host")?;
    std::fs::write(
        dir.join("host-a.kubeconfig"),
        host.kubeconfig("host").replace(&host.url(), &proxy.url()),
    )?;
    let election = |id: &str, kubeconfig: &str| {
        format!(
            "host: {{ kubeconfig: {kubeconfig}, context: host }}\n\
             leader_election: {{ lease: feddns, namespace: feddns, identity: {id}, lease_duration: 3s, renew_interval: 300ms }}\n"
        )
    };
    let (a, a_probe) = world
        .instance("a.yaml", &ALL, &election("a", "host-a.kubeconfig"))
        .await?;
    let a_leads = a.leader().context("elected")?;
    let deadline = Instant::now() + CONVERGE_DEADLINE;
    while !*a_leads.borrow() {
        ensure!(Instant::now() < deadline, "a never led");
        tokio::time::sleep(POLL).await;
    }
    world.converged(&ALL, &taken()).await?;
    let (b, b_probe) = world
        .instance("b.yaml", &ALL, &election("b", "host.kubeconfig"))
        .await?;
    let mut a_rx = a.leader().context("elected")?;
    let mut b_rx = b.leader().context("elected")?;
    proxy.hang(true);
    let hung = Instant::now();
    change_addresses(&world, 0, 10, 100)?;
    a_rx.wait_for(|l| !*l).await?;
    let a_fenced = Instant::now();
    let a_calls_at_fence = a_probe.applies();
    b_rx.wait_for(|l| *l).await?;
    let b_leads = Instant::now();
    change_addresses(&world, 1, 10, 100)?;
    let converged = world.converged(&ALL, &taken()).await?;
    let (lost, foreign_touched) = world.damage(&ALL, &taken(), &[&a_probe, &b_probe]).await?;
    let late = a_probe.applies() - a_calls_at_fence
        + a_probe.accepted_at().iter().filter(|t| **t >= a_fenced).count() as u64;
    let b_early = b_probe.accepted_at().iter().filter(|t| **t < b_leads).count();
    ensure!(b_early == 0, "b wrote {b_early} batches before it led");
    proxy.hang(false);
    b.stop().await?;
    a.abort().await;
    Ok(Row {
        converged: Ok(converged),
        lost,
        foreign_touched,
        writes_after_fencing: Some(late),
        note: format!(
            "a stopped writing {:.2} s after its calls hung, b led {:.2} s later (lease 3 s)",
            a_fenced.duration_since(hung).as_secs_f64(),
            b_leads.duration_since(a_fenced).as_secs_f64()
        ),
    })
}

/// While feddns is down a Service is deleted from every member and a member leaves the
/// federation; after the restart their records go.
async fn deleted_while_down(services: usize) -> anyhow::Result<Row> {
    let world = World::start(services, false).await?;
    let (instance, first) = world.instance("c.yaml", &ALL, "").await?;
    world.converged(&ALL, &taken()).await?;
    instance.stop().await?;
    for m in &world.members {
        delete_service(&m.api, &svc_name(0));
    }
    let (instance, probe) = world.instance("c.yaml", &[0, 1], "").await?;
    let restarted = Instant::now();
    let converged = world.converged(&[0, 1], &taken()).await?;
    let after = restarted.elapsed();
    let gone = world
        .sets()
        .await?
        .iter()
        .filter(|s| s.name.contains(&format!("{}.", svc_name(0))) || s.name.contains(MEMBERS[2].2))
        .count();
    ensure!(
        gone == 0,
        "{gone} sets of the deleted Service or the removed member are left"
    );
    let (lost, foreign_touched) = world.damage(&[0, 1], &taken(), &[&first, &probe]).await?;
    instance.stop().await?;
    Ok(Row {
        converged: Ok(converged.max(after)),
        lost,
        foreign_touched,
        writes_after_fencing: None,
        note: format!(
            "{} deletes after the restart",
            probe
                .accepted_changes()
                .iter()
                .filter(|c| c.op() == "delete")
                .count()
        ),
    })
}

/// A Service appears whose global name holds someone else's record: a conflict, reported,
/// never written, never retried in a loop.
async fn foreign_at_wanted_name(services: usize) -> anyhow::Result<Row> {
    let world = World::start(services, false).await?;
    let (instance, probe) = world.instance("c.yaml", &ALL, "").await?;
    world.converged(&ALL, &taken()).await?;
    set_service(&world.members[0].api, TAKEN, "192.0.2.99")?;
    let conflict = vec![global_name(TAKEN)];
    let converged = world.converged(&ALL, &conflict).await?;
    // No retry loop: a quiet zone gets no further batches.
    let calls = probe.applies();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let retried = probe.applies() - calls;
    let (lost, foreign_touched) = world.damage(&ALL, &conflict, &[&probe]).await?;
    instance.stop().await?;
    Ok(Row {
        converged: Ok(converged),
        lost,
        foreign_touched: foreign_touched + usize::try_from(retried).unwrap_or(usize::MAX),
        writes_after_fencing: None,
        note: format!("1 conflict reported; {retried} batches in the 6 s after"),
    })
}

/// The provider takes 60 s to list the zone (a large zone at Route53's 5 requests/s): the loop
/// keeps answering `/healthz` and `/status`, then converges.
async fn slow_list(services: usize) -> anyhow::Result<Row> {
    let world = World::start(services, false).await?;
    let probe = Probe::new(world.provider().await?);
    probe.delay_lists(SLOW_LIST);
    let cfg = world.config("c.yaml", &ALL, "admin: { listen: 127.0.0.1:0 }\n")?;
    let started = Instant::now();
    let instance = Instance::start(cfg, probe.clone(), Arc::new(NoResolve), false).await?;
    let addr = instance.admin_addr().context("an admin port")?.to_string();
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    while started.elapsed() < SLOW_LIST - Duration::from_secs(5) {
        for path in ["/healthz", "/status"] {
            let t = Instant::now();
            feddns::ops::admin::http_get(&addr, path, Duration::from_secs(2))
                .await
                .with_context(|| format!("{path} during the listing"))?;
            slowest = slowest.max(t.elapsed());
            answered += 1;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let converged = world.converged(&ALL, &taken()).await?;
    let total = started.elapsed();
    let note = format!(
        "from the start; {answered} /healthz and /status requests answered during the listing, the slowest in {:.0} ms",
        slowest.as_secs_f64() * 1000.0
    );
    world.report(instance, &probe, total.max(converged), note).await
}
