//! Fuzzes the stub's query-name path: the federations-map parser, the classifier and the
//! answer built from it must never panic, whatever the bytes.
//!
//! Input: the first line is a federations map (`name=domain,...`, as in `--federations` or the
//! kube-dns ConfigMap), the rest the query name. The name is classified against that map and
//! against a fixed one, under `cluster.local` and under the map's text used as a cluster domain.

#![no_main]

use std::sync::Arc;

use feddns::stub::query::{Outcome, classify, parse_federations};
use feddns::stub::{LocalAnswer, LocalServices, Location, StubSettings, StubState, Zone};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (map_text, qname) = text.split_once('\n').unwrap_or(("", &text));
    let parsed = parse_federations(map_text).unwrap_or_default();
    let fixed = parse_federations("myfed=example.com,other=other.org").unwrap_or_default();

    for feds in [&parsed, &fixed] {
        for cluster_domain in ["cluster.local", map_text] {
            if let Outcome::Federation(q) = classify(qname, cluster_domain, feds) {
                assert_eq!(feds.get(q.federation).map(String::as_str), Some(q.domain));
            }
        }
    }

    let Ok(settings) = StubSettings::new("cluster.local", 30) else {
        return;
    };
    let mut local = LocalServices::new();
    if let Some(answer) = LocalAnswer::new(&settings, "shop", "web", &["10.96.0.1".parse().unwrap()]) {
        local.insert("shop", "web", Arc::new(answer));
    }
    let zone = Zone::new(
        &settings,
        StubState {
            federations: parsed,
            location: Some(Location {
                zone: "us-east-1a".into(),
                region: "us-east-1".into(),
            }),
            local: Some(Arc::new(local)),
        },
    );
    let _ = zone.answer_text(&qname.to_ascii_lowercase(), false);
    let _ = zone.answer_text(qname, true);
});
