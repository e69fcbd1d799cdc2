//! The `feddns stub` DNS server with a static state and no Kubernetes, for `benches/dnsperf.sh`.
//!
//! ```text
//! cargo run --release --example stub_bench -- --listen 127.0.0.1:15354 --services 10000 \
//!     --queries /tmp/queries.txt --bind-zone /tmp/myfed.zone
//! ```
//!
//! Serves federation `myfed` (domain `example.com`) under `cluster.local` on a node in zone
//! `us-east-1a`, region `us-east-1`, with `--services` Services `web-<i>` in namespaces
//! `ns-<i % 100>`, every other one with a ready endpoint. Writes a dnsperf query file (one A
//! query per Service) and a BIND zone file for `myfed.svc.cluster.local` with exactly the
//! CNAMEs the stub answers, then serves until killed.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use feddns::stub::query::parse_federations;
use feddns::stub::{Answer, LocalServices, Location, Shared, StubServer, StubSettings, StubState, Zone};

struct Args {
    listen: SocketAddr,
    services: usize,
    queries: Option<String>,
    bind_zone: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 15354)),
        services: 10_000,
        queries: None,
        bind_zone: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => args.listen = value.parse().map_err(|e| format!("--listen {value:?}: {e}"))?,
            "--services" => {
                args.services = value.parse().map_err(|e| format!("--services {value:?}: {e}"))?;
            }
            "--queries" => args.queries = Some(value),
            "--bind-zone" => args.bind_zone = Some(value),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

fn main() -> Result<(), String> {
    let args = args()?;
    let settings = StubSettings::new("cluster.local", 30)?;
    let mut local = LocalServices::new();
    let names: Vec<(String, String)> = (0..args.services)
        .map(|i| (format!("web-{i}"), format!("ns-{}", i % 100)))
        .collect();
    for (i, (svc, ns)) in names.iter().enumerate() {
        if i % 2 == 0 {
            local.insert(ns, svc);
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
    let mut bind = String::from(
        "$TTL 30\n\
         @ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30\n\
         @ IN NS ns.dns.cluster.local.\n",
    );
    for (svc, ns) in &names {
        let name = format!("{svc}.{ns}.myfed.svc.cluster.local.");
        let Answer::Cname(target) = zone.answer_text(&name, false) else {
            return Err(format!("{name}: no CNAME"));
        };
        let _ = writeln!(queries, "{name} A");
        let _ = writeln!(bind, "{svc}.{ns} IN CNAME {}", target.to_ascii());
    }
    for (path, text) in [(&args.queries, &queries), (&args.bind_zone, &bind)] {
        if let Some(path) = path {
            std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?;
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let server = StubServer::start(args.listen, Shared::new(zone)).await?;
        println!(
            "stub listening on {} with {} services; Ctrl-C stops it",
            server.local_addr(),
            names.len()
        );
        let _ = tokio::signal::ctrl_c().await;
        server.shutdown().await
    })
}
