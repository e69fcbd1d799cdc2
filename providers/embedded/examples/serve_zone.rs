//! Serves a synthetic zone shaped like feddns's (addresses, ownership TXTs at companion names,
//! CNAME fall-backs) from the embedded provider, and writes dnsperf query files for it, to
//! measure how fast the embedded server answers:
//!
//! ```sh
//! cargo run --release -p feddns-embedded --example serve_zone -- \
//!     --listen 127.0.0.1:15360 --names 105000 --queries /tmp/q
//! dnsperf -s 127.0.0.1 -p 15360 -d /tmp/q/positive.txt -l 10
//! ```
//!
//! For `--names` N it creates N address names `s<i>.n<i % 100>.bench.svc.example.com` (two A
//! records each), their ownership TXTs at `_feddns.<name>`, and a CNAME
//! `s<i>.n<i % 100>.bench.svc.r1.example.com` to every fourth one. Query files (one query per
//! line): `positive.txt` (A at the names, A through the CNAMEs, TXT at the companions),
//! `negative.txt` (NXDOMAIN below the names, NODATA for AAAA at them) and `mixed.txt` (both).
//! It serves until killed.

use std::fmt::Write as _;
use std::path::PathBuf;

use feddns_embedded::{EmbeddedConfig, EmbeddedProvider};
use feddns_provider::{Change, Provider, RecordSet, RecordType};

const ZONE: &str = "example.com";
const BATCH: usize = 400;

struct Args {
    listen: String,
    names: usize,
    queries: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        listen: "127.0.0.1:15360".into(),
        names: 105_000,
        queries: PathBuf::from("."),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => a.listen = value,
            "--names" => a.names = value.parse().unwrap_or_else(|_| usage("--names takes a number")),
            "--queries" => a.queries = PathBuf::from(value),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    a
}

fn usage(msg: &str) -> ! {
    eprintln!("{msg}\nusage: serve_zone [--listen ADDR] [--names N] [--queries DIR]");
    std::process::exit(2)
}

fn name(i: usize) -> String {
    format!("s{i}.n{}.bench.svc.{ZONE}", i % 100)
}

fn alias(i: usize) -> String {
    format!("s{i}.n{}.bench.svc.r1.{ZONE}", i % 100)
}

fn sets(names: usize) -> Vec<RecordSet> {
    let mut out = Vec::new();
    for i in 0..names {
        let ip = |k: usize| format!("10.{}.{}.{}", k, (i >> 8) & 0xff, i & 0xff);
        out.push(RecordSet::new(&name(i), RecordType::A, 180, [ip(1), ip(2)]));
        out.push(RecordSet::new(
            &format!("_feddns.{}", name(i)),
            RecordType::Txt,
            180,
            [format!(
                "heritage=feddns,feddns/owner=bench,feddns/service=n{}/s{i}",
                i % 100
            )],
        ));
        if i % 4 == 0 {
            out.push(RecordSet::new(&alias(i), RecordType::Cname, 180, [name(i)]));
        }
    }
    out
}

fn write_queries(dir: &std::path::Path, names: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (mut positive, mut negative, mut mixed) = (String::new(), String::new(), String::new());
    for i in (0..names).step_by((names / 20_000).max(1)) {
        let mut p = format!("{} A\n_feddns.{} TXT\n", name(i), name(i));
        if i % 4 == 0 {
            let _ = writeln!(p, "{} A", alias(i));
        }
        let n = format!("x.{} A\n{} AAAA\n", name(i), name(i));
        positive.push_str(&p);
        negative.push_str(&n);
        mixed.push_str(&p);
        mixed.push_str(&n);
    }
    std::fs::write(dir.join("positive.txt"), positive)?;
    std::fs::write(dir.join("negative.txt"), negative)?;
    std::fs::write(dir.join("mixed.txt"), mixed)
}

#[tokio::main]
async fn main() {
    let a = args();
    let listen = a
        .listen
        .parse()
        .unwrap_or_else(|_| usage("--listen takes IP:port"));
    let p = EmbeddedProvider::start(EmbeddedConfig {
        zone: ZONE.into(),
        listen,
    })
    .await
    .unwrap_or_else(|e| usage(&e.to_string()));
    let all = sets(a.names);
    for chunk in all.chunks(BATCH) {
        let batch: Vec<Change> = chunk.iter().map(|s| Change::create(s.clone())).collect();
        if let Err(e) = p.apply(&batch).await {
            usage(&format!("the zone was refused: {e}"));
        }
    }
    drop(all);
    if let Err(e) = write_queries(&a.queries, a.names) {
        usage(&format!("cannot write the query files: {e}"));
    }
    println!(
        "serving {} names ({} record sets) on {}",
        a.names,
        p.list().await.map_or(0, |l| l.len()),
        p.local_addr()
    );
    std::future::pending::<()>().await;
}
