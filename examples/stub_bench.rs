//! The `feddns stub` DNS server with a static state and no Kubernetes, for `benches/dnsperf.sh`.
//!
//! ```text
//! cargo run --release --example stub_bench -- --listen 127.0.0.1:15354 --services 10000 \
//!     --upstream 127.0.0.1:15355 --queries /tmp/queries.txt --zone /tmp/root.zone
//! ```
//!
//! Serves federation `myfed` (domain `example.com`) under `cluster.local` on a node in zone
//! `us-east-1a`, region `us-east-1`, with `--services` Services `web-<i>` in namespaces
//! `ns-<i % 100>`, every other one local (a ClusterIP and a ready endpoint); the others are
//! answered with their federated chain, resolved through `--upstream`. Writes a dnsperf query
//! file (one A query per Service) and the zone file a BIND9 needs to give exactly the same
//! answers from static data (`--zone`): one zone, the root, so that an authoritative-only BIND
//! follows every CNAME. It holds the federation CNAMEs, the local Services' A records and the
//! federated chains (zone CNAME → region CNAME → global A, what `feddns run` writes for a
//! Service healthy only in another region), which the stub's upstream answers too. Then serves
//! until killed.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use feddns::stub::chain::Resolver;
use feddns::stub::query::parse_federations;
use feddns::stub::upstream::DnsUpstream;
use feddns::stub::{
    Answer, Answering, LocalAnswer, LocalServices, Location, Shared, StubMetrics, StubServer, StubSettings,
    StubState, Zone,
};

/// TTL of the federation's records in the upstream's zone: longer than a benchmark run, so that
/// a warm cache stays warm.
const UPSTREAM_TTL: u32 = 600;

struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    services: usize,
    queries: Option<PathBuf>,
    zone: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 15354)),
        upstream: SocketAddr::from(([127, 0, 0, 1], 15355)),
        services: 10_000,
        queries: None,
        zone: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let addr = |v: &str| v.parse().map_err(|e| format!("{flag} {v:?}: {e}"));
        match flag.as_str() {
            "--listen" => args.listen = addr(&value)?,
            "--upstream" => args.upstream = addr(&value)?,
            "--services" => {
                args.services = value.parse().map_err(|e| format!("--services {value:?}: {e}"))?;
            }
            "--queries" => args.queries = Some(value.into()),
            "--zone" => args.zone = Some(value.into()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

/// The address of Service `i`: its ClusterIP if local, its load balancer's IP otherwise.
fn address(i: usize) -> Ipv4Addr {
    let (hi, lo) = ((i / 250) as u8, (i % 250 + 1) as u8);
    if i.is_multiple_of(2) {
        Ipv4Addr::new(10, 96, hi, lo)
    } else {
        Ipv4Addr::new(203, 0, hi, lo)
    }
}

fn main() -> Result<(), String> {
    let args = args()?;
    // Failed lookups are logged as warnings (FEDDNS_LOG=debug for more).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FEDDNS_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = StubSettings::new("cluster.local", 30).map_err(|e| e.to_string())?;
    let names: Vec<(String, String)> = (0..args.services)
        .map(|i| (format!("web-{i}"), format!("ns-{}", i % 100)))
        .collect();
    let mut local = LocalServices::new();
    for (i, (svc, ns)) in names.iter().enumerate() {
        if i.is_multiple_of(2) {
            let answer = LocalAnswer::new(&settings, ns, svc, &[IpAddr::V4(address(i))])
                .ok_or_else(|| format!("{svc}.{ns}: no name"))?;
            local.insert(ns, svc, Arc::new(answer));
        }
    }
    let zone = Zone::new(
        &settings,
        StubState {
            federations: parse_federations("myfed=example.com")?,
            location: Some(Location {
                zone: "us-east-1a".into(),
                region: "us-east-1".into(),
            }),
            local: Some(Arc::new(local)),
        },
    );

    let mut queries = String::new();
    let mut root = String::from(
        "$TTL 30\n. IN SOA ns.example.com. hostmaster.example.com. 1 7200 1800 86400 30\n\
         . IN NS ns.example.com.\nns.example.com. IN A 127.0.0.1\n",
    );
    for (i, (svc, ns)) in names.iter().enumerate() {
        let name = format!("{svc}.{ns}.myfed.svc.cluster.local.");
        let _ = writeln!(queries, "{name} A");
        match zone.answer_text(&name, false) {
            Answer::Local(l) => {
                let target = l.target.to_ascii();
                let _ = writeln!(root, "{name} IN CNAME {target}");
                let _ = writeln!(root, "{target} IN A {}", address(i));
            }
            Answer::Federated(target) => {
                let p = format!("{svc}.{ns}.myfed.svc");
                let _ = writeln!(root, "{name} IN CNAME {}", target.to_ascii());
                let _ = writeln!(
                    root,
                    "{p}.us-east-1a.us-east-1.example.com. {UPSTREAM_TTL} IN CNAME {p}.us-east-1.example.com."
                );
                let _ = writeln!(
                    root,
                    "{p}.us-east-1.example.com. {UPSTREAM_TTL} IN CNAME {p}.example.com."
                );
                let _ = writeln!(root, "{p}.example.com. {UPSTREAM_TTL} IN A {}", address(i));
            }
            other => return Err(format!("{name}: {other:?}")),
        }
    }
    for (path, text) in [(&args.queries, &queries), (&args.zone, &root)] {
        if let Some(path) = path {
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let metrics = Arc::new(StubMetrics::new());
        let upstream = Arc::new(DnsUpstream::new(&[args.upstream], Duration::from_secs(2)));
        let resolver = Resolver::new(upstream, Duration::from_secs(2), 2 * names.len(), metrics.clone());
        let answering = Answering {
            zone: Shared::new(zone),
            resolver,
            metrics,
        };
        let server = StubServer::start(args.listen, answering)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "stub listening on {} with {} services, upstream {}; Ctrl-C stops it",
            server.local_addr(),
            names.len(),
            args.upstream
        );
        let _ = tokio::signal::ctrl_c().await;
        server.shutdown().await.map_err(|e| e.to_string())
    })
}
