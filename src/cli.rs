//! The command line: `feddns run`, `feddns plan`, `feddns validate`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use feddns_clouddns::CloudDnsProvider;
use feddns_embedded::{EmbeddedConfig, EmbeddedProvider};
use feddns_provider::{MemoryProvider, Provider};
use feddns_rfc2136::Rfc2136Provider;
use feddns_route53::Route53Provider;
use tracing::{info, warn};

use crate::config::{Config, MemberSource, ProviderConfig};
use crate::control::controller::Controller;
use crate::control::resolver::DnsResolver;
use crate::control::runner::Instance;
use crate::federation::index::Topology;
use crate::federation::model::SourceKind;
use crate::federation::plan::render_table;
use crate::members::kube::list_once;
use crate::members::snapshot::load_snapshot;
use crate::members::{MemberEvent, Supervisor};

/// Federated DNS controller for Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "feddns", version, about)]
pub struct Cli {
    /// Log filter (tracing syntax, e.g. `info`, `feddns=debug`); default `info` for `run`,
    /// `warn` otherwise.
    #[arg(long, global = true, env = "FEDDNS_LOG")]
    pub log: Option<String>,
    /// Log format: `text` for people, `json` (one object per line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "FEDDNS_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch the members and keep the zone in step with them.
    Run {
        /// Configuration file.
        #[arg(short, long)]
        config: PathBuf,
        /// Apply plans even when they delete more owned records than `safety.max_delete_share`.
        #[arg(long)]
        force: bool,
    },
    /// Show what `run` would change now, without changing anything.
    Plan {
        /// Configuration file.
        #[arg(short, long)]
        config: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Show the plan as `run --force` would apply it.
        #[arg(long)]
        force: bool,
    },
    /// Check the configuration, read the member files and list the member clusters.
    Validate {
        /// Configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Show what a running `feddns run` sees: members (synced or down, zones, region) and, per
    /// federated Service, which members are healthy and what its names point to.
    Status {
        /// The running instance's admin address (`host:port` or `http://host:port`).
        #[arg(long, conflicts_with = "config")]
        admin: Option<String>,
        /// Take the admin address from this configuration file's `admin.listen`.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Answer kube-dns `--federations` queries (`<svc>.<ns>.<federation>.svc.<cluster-domain>`)
    /// inside a member cluster, for CoreDNS or kube-dns to forward those suffixes to.
    Stub(Box<StubArgs>),
}

/// Options of `feddns stub`.
#[derive(Debug, clap::Args)]
pub struct StubArgs {
    /// Federations as kube-dns took them: `name=domain[,name=domain...]`. The `federations` key
    /// of the ConfigMap (`--configmap`) overrides this while it exists.
    #[arg(long, default_value = "")]
    pub federations: String,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Address to answer on, UDP and TCP.
    #[arg(long, default_value = "0.0.0.0:53")]
    pub listen: std::net::SocketAddr,
    /// TTL of the answers, in seconds.
    #[arg(long, default_value_t = 30, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=2_147_483_647))]
    pub ttl: u32,
    /// The node this stub runs on (the downward API's `spec.nodeName`); its zone and region go
    /// into federated answers.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// The kube-dns ConfigMap, `namespace/name`, whose `federations` key is followed live; an
    /// empty value follows none.
    #[arg(long, default_value = "kube-system/kube-dns")]
    pub configmap: String,
    /// Resolvers for the federated names, `ADDR[:PORT],...` (port 53 by default), asked in
    /// order; default: the nameservers of /etc/resolv.conf.
    #[arg(long)]
    pub upstream: Option<String>,
    /// The most a federated answer waits for the upstream resolvers (its whole CNAME chain),
    /// e.g. `500ms`, `2s`; then SERVFAIL.
    #[arg(long, default_value = "1s", value_parser = crate::config::parse_duration)]
    pub upstream_timeout: Duration,
    /// Most federated chains kept in the cache (each for its TTL).
    #[arg(long, default_value_t = 10_000)]
    pub cache_size: usize,
    /// Admin HTTP address (`/metrics`, `/healthz`, `/readyz`, `/status`), e.g. `0.0.0.0:9153`;
    /// none by default.
    #[arg(long)]
    pub admin: Option<std::net::SocketAddr>,
    /// Kubeconfig of the cluster. Without it and `--context`: `$KUBECONFIG`, else
    /// `~/.kube/config`, else the pod's service account (as kubectl finds it).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A readable table.
    Table,
    /// JSON.
    Json,
}

impl Cli {
    /// The log filter to use.
    pub fn log_filter(&self) -> &str {
        match (&self.log, &self.command) {
            (Some(f), _) => f,
            (None, Command::Run { .. }) => "info,hickory_server=warn,hickory_proto=warn",
            (None, Command::Stub(_)) => "info,hickory_server=warn,hickory_proto=warn",
            (None, _) => "warn",
        }
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { config, force } => run_controller(&config, force).await,
        Command::Plan {
            config,
            output,
            force,
        } => plan(&config, output, force).await,
        Command::Validate { config } => validate(&config).await,
        Command::Status {
            admin,
            config,
            output,
        } => status(admin, config, output).await,
        Command::Stub(args) => stub(*args).await,
    }
}

/// `feddns stub`: checks every option first (errors name the flag), then connects, answers
/// until SIGTERM or Ctrl-C.
async fn stub(args: StubArgs) -> anyhow::Result<()> {
    use crate::stub::query::{format_federations, parse_federations};
    use crate::stub::upstream::{parse_upstreams, resolv_conf_nameservers};
    use crate::stub::{ClientSource, Sources, Stub, StubOptions, StubSettings, UpstreamSettings};

    let federations =
        parse_federations(&args.federations).map_err(|e| anyhow::anyhow!("--federations: {e}"))?;
    let settings = StubSettings::new(&args.cluster_domain, args.ttl)?;
    let node_name = args.node_name.trim();
    if node_name.is_empty() {
        bail!("--node-name (or NODE_NAME) must name the node this stub runs on");
    }
    let configmap = match args.configmap.trim() {
        "" => None,
        text => {
            let (ns, name) = text.split_once('/').ok_or_else(|| {
                anyhow::anyhow!("--configmap {text:?}: expected namespace/name, e.g. kube-system/kube-dns")
            })?;
            crate::federation::names::check_label("--configmap namespace", ns)?;
            crate::federation::names::check_name("--configmap name", name)?;
            Some((ns.to_string(), name.to_string()))
        }
    };
    let servers = match &args.upstream {
        Some(text) => parse_upstreams(text).map_err(|e| anyhow::anyhow!("--upstream: {e}"))?,
        None => resolv_conf_nameservers(Path::new(RESOLV_CONF)).map_err(anyhow::Error::msg)?,
    };
    if args.upstream_timeout.is_zero() {
        bail!("--upstream-timeout must be more than 0");
    }
    let source = ClientSource::infer(
        args.kubeconfig,
        args.context,
        std::env::var("KUBECONFIG").ok(),
        std::env::var_os("HOME").as_deref().map(Path::new),
    );
    let client = source.connect().await?;
    let options = StubOptions {
        listen: args.listen,
        settings: settings.clone(),
        sources: Sources {
            node_name: node_name.to_string(),
            configmap: configmap.clone(),
            federations: federations.clone(),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        },
        upstream: UpstreamSettings {
            servers: servers.clone(),
            timeout: args.upstream_timeout,
            cache_size: args.cache_size,
        },
        admin: args.admin,
    };
    let stub = Stub::start(client, options).await?;
    let addr = stub.local_addr();
    info!(
        %addr,
        zone = %format!("svc.{}", settings.cluster_domain),
        federations = %format_federations(&federations),
        configmap = %configmap.map(|(ns, n)| format!("{ns}/{n}")).unwrap_or_else(|| "-".into()),
        node = %node_name,
        cluster = %source.describe(),
        upstream = %servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        "stub DNS server listening (UDP and TCP)"
    );
    shutdown_signal().await;
    stub.shutdown().await?;
    info!("stopped");
    Ok(())
}

/// Where `feddns stub` finds its default upstream resolvers.
const RESOLV_CONF: &str = "/etc/resolv.conf";

fn resolver(cfg: &Config) -> anyhow::Result<Arc<DnsResolver>> {
    let r = DnsResolver::new(&cfg.resolver, Duration::from_secs(u64::from(cfg.ttl)))?;
    Ok(Arc::new(r))
}

async fn run_controller(path: &Path, force: bool) -> anyhow::Result<()> {
    let cfg = Config::load(path)?;
    let zone = cfg.naming().suffix().to_string();
    let provider = provider(&cfg, &zone, false).await?;
    let resolver = resolver(&cfg)?;
    let mut instance = Instance::start(cfg, provider, resolver, force).await?;
    if let Some(addr) = instance.admin_addr() {
        info!(%addr, "admin port: /metrics /healthz /readyz /status");
    }
    tokio::select! {
        () = shutdown_signal() => {
            info!("stopping: finishing the batch in flight");
            instance.stop().await?;
        }
        r = instance.finished() => r?,
    }
    info!("stopped");
    Ok(())
}

/// Applies edits of the configuration file to the running members (see
/// [`crate::control::runner::follow_membership`]); runs until the task is dropped.
pub async fn follow_config(path: PathBuf, current: Config, supervisor: Supervisor) {
    let (_keep, stop) = tokio::sync::watch::channel(false);
    crate::control::runner::follow_membership(path, current, supervisor, None, stop).await;
}

/// `feddns status`: asks a running instance's admin port.
async fn status(admin: Option<String>, config: Option<PathBuf>, output: Output) -> anyhow::Result<()> {
    let addr = match (admin, config) {
        (Some(a), _) => a,
        (None, Some(path)) => {
            let cfg = Config::load(&path)?;
            let Some(a) = cfg.admin else {
                bail!(
                    "config file {}: has no `admin.listen`; give the address with --admin",
                    path.display()
                );
            };
            let mut listen = a.listen;
            if listen.ip().is_unspecified() {
                listen.set_ip(if listen.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            listen.to_string()
        }
        (None, None) => bail!("give the running instance's admin address with --admin, or its --config"),
    };
    let body = crate::ops::admin::http_get(&addr, "/status", Duration::from_secs(10))
        .await
        .with_context(|| format!("cannot get the status from {addr}"))?;
    let report: crate::ops::status::StatusReport = serde_json::from_str(&body)
        .with_context(|| format!("{addr}/status did not answer with a status report"))?;
    match output {
        Output::Table => print!("{}", crate::ops::status::render(&report)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}

/// The configured provider. For a one-shot plan the embedded provider is an empty in-memory
/// zone (it starts empty on every run anyway), so no server is started.
async fn provider(cfg: &Config, zone: &str, planning: bool) -> anyhow::Result<Arc<dyn Provider>> {
    Ok(match &cfg.provider {
        ProviderConfig::Embedded(_) if planning => {
            eprintln!(
                "note: the embedded provider's zone starts empty on every run; planning against an empty zone"
            );
            Arc::new(MemoryProvider::new(
                zone,
                feddns_embedded::CAPABILITIES,
                feddns_provider::Limits::default(),
            ))
        }
        ProviderConfig::Embedded(e) => {
            let p = EmbeddedProvider::start(EmbeddedConfig {
                zone: zone.to_string(),
                listen: e.listen,
            })
            .await
            .with_context(|| {
                format!(
                    "cannot start the embedded DNS server (provider.embedded.listen {})",
                    e.listen
                )
            })?;
            let addr = p.local_addr();
            info!(%zone, %addr, "embedded DNS server listening (UDP and TCP); try: dig @{} -p {} <name>", addr.ip(), addr.port());
            Arc::new(p)
        }
        ProviderConfig::Route53(r) => {
            let p = Route53Provider::connect(r)
                .await
                .context("cannot use the Route53 hosted zone (provider.route53)")?;
            if zone != p.zone() {
                bail!(
                    "provider.route53 selects hosted zone {} but domain is {zone}",
                    p.zone()
                );
            }
            info!(
                zone = p.zone(),
                zone_id = p.zone_id(),
                "using Route53 hosted zone"
            );
            Arc::new(p)
        }
        ProviderConfig::Clouddns(c) => {
            let p = CloudDnsProvider::connect(c)
                .await
                .context("cannot use the Cloud DNS managed zone (provider.clouddns)")?;
            if zone != p.zone() {
                bail!(
                    "provider.clouddns selects managed zone {} ({}) but domain is {zone}",
                    p.managed_zone(),
                    p.zone()
                );
            }
            info!(
                zone = p.zone(),
                project = p.project(),
                managed_zone = p.managed_zone(),
                "using Cloud DNS managed zone"
            );
            Arc::new(p)
        }
        ProviderConfig::Rfc2136(r) => {
            let p = Rfc2136Provider::connect(r, zone)
                .await
                .context("cannot use the RFC 2136 server (provider.rfc2136)")?;
            info!(
                zone = p.zone(),
                server = p.server(),
                key = p.key_name(),
                "using the zone on an RFC 2136 server"
            );
            Arc::new(p)
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops feddns");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The members the discovery registries hold now (none without discovery).
async fn discover_once(cfg: &Config) -> anyhow::Result<Vec<crate::config::MemberConfig>> {
    if !cfg.discovers() {
        return Ok(Vec::new());
    }
    let host = crate::control::runner::connect_host(cfg).await?;
    let (tx, mut rx) = tokio::sync::watch::channel(None);
    let task = tokio::spawn(crate::members::discovery::follow(
        host,
        cfg.discovery.clone(),
        crate::members::discovery::DiscoverySettings::default(),
        tx,
    ));
    let found = tokio::time::timeout(LIST_TIMEOUT, rx.wait_for(Option::is_some))
        .await
        .map(|r| r.ok().and_then(|m| m.clone()));
    task.abort();
    let Ok(Some(found)) = found else {
        bail!("the discovery registries did not list within {LIST_TIMEOUT:?}");
    };
    Ok(found
        .values()
        .filter(|d| !cfg.members.iter().any(|m| m.name == d.name))
        .map(crate::config::MemberConfig::discovered)
        .collect())
}

/// How long `plan` and `validate` wait for a Kubernetes member's complete list.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads every member once (files read, clusters listed); errors name the member.
async fn load_members(cfg: &Config) -> anyhow::Result<Vec<MemberEvent>> {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let selection = cfg.selection();
    let mut members = cfg.members.clone();
    members.extend(discover_once(cfg).await?);
    for m in &members {
        let loaded = match m.source() {
            MemberSource::File(path) => match load_snapshot(&path, &selection) {
                Ok(parsed) => {
                    for w in &parsed.warnings {
                        eprintln!("warning: member {}: {w}", m.name);
                    }
                    Ok(parsed.snapshot)
                }
                Err(e) => Err(format!("member {}: {e}", m.name)),
            },
            _ => list_once(m, &selection, LIST_TIMEOUT).await,
        };
        match loaded {
            Ok(snapshot) => events.push(MemberEvent::Snapshot {
                member: m.name.clone(),
                snapshot,
            }),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(events)
}

async fn plan(path: &Path, output: Output, force: bool) -> anyhow::Result<()> {
    let cfg = Config::load(path)?;
    let zone = cfg.naming().suffix().to_string();
    let provider = provider(&cfg, &zone, true).await?;
    let mut controller = Controller::new(&cfg, provider, resolver(&cfg)?, force);
    for ev in load_members(&cfg).await? {
        controller.apply_event(ev);
    }
    let p = controller.plan_once().await.context("cannot list the zone")?;
    match output {
        Output::Table => print!("{}", render_table(&p)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&p)?),
    }
    Ok(())
}

async fn validate(path: &Path) -> anyhow::Result<()> {
    let cfg = Config::load(path)?;
    println!(
        "config {}: federation {}, zone {}, owner id {}, {} members{}",
        path.display(),
        cfg.federation,
        cfg.naming().suffix(),
        cfg.owner_id(),
        cfg.members.len(),
        if cfg.discovers() {
            format!(" configured, {} discovery registries", cfg.discovery.len())
        } else {
            String::new()
        }
    );
    for ev in load_members(&cfg).await? {
        if let MemberEvent::Snapshot { member, snapshot } = ev {
            let t = Topology::from_nodes(snapshot.nodes.values());
            let lb = snapshot.services.values().filter(|s| s.federated).count();
            println!(
                "member {member}: {} nodes, region {}, zones [{}], {} services ({lb} federated), {} endpoint slices",
                snapshot.nodes.len(),
                t.region.as_deref().unwrap_or("-"),
                t.zones.iter().cloned().collect::<Vec<_>>().join(", "),
                snapshot.services.len(),
                snapshot.slices.len()
            );
            if cfg.sources.iter().any(|s| *s != SourceKind::Service) {
                println!(
                    "  {} ingresses, {} gateways, {} routes",
                    snapshot.ingresses.len(),
                    snapshot.gateways.len(),
                    snapshot.routes.len()
                );
            }
            for (kind, why) in &snapshot.unread {
                println!("  cannot read {kind}: {why}");
            }
            if let Some(d) = &t.region_disagreement {
                println!("  note: nodes disagree on region ({d}); the majority wins");
            }
            for (key, s) in &snapshot.services {
                for p in &s.problems {
                    println!("  problem: service {key}: {p}");
                }
            }
            let objects = snapshot.ingresses.values().map(|i| &i.problems);
            let objects = objects
                .chain(snapshot.gateways.values().map(|g| &g.problems))
                .chain(snapshot.routes.values().map(|r| &r.problems));
            for p in objects.flatten() {
                println!("  problem: {p}");
            }
        }
    }
    println!("ok");
    Ok(())
}
