//! What the benchmarks share: a federation of member snapshots as the watchers produce them.

use std::net::{IpAddr, Ipv4Addr};

use feddns::federation::model::{
    MemberSnapshot, NodeProj, ServiceKey, ServiceOptions, ServiceProj, SliceProj, Target,
};

/// Members of the benchmark federation.
pub(crate) const MEMBERS: u32 = 20;
/// LoadBalancer Services per member (the same Services in every member).
pub(crate) const SERVICES: u32 = 5_000;
/// Regions the members share, round-robin; each member has 3 zones.
pub(crate) const REGIONS: u32 = 5;

/// Member `m`'s snapshot: 3 nodes (one per zone), every Service with one ingress address (moved
/// by `ip_salt`) and one EndpointSlice with two ready endpoints.
pub(crate) fn member_snapshot_of(m: u32, services: u32, ip_salt: u32) -> MemberSnapshot {
    let region = format!("region-{}", m % REGIONS);
    let mut s = MemberSnapshot::default();
    for z in 0..3 {
        let name = format!("node-{m}-{z}");
        s.nodes.insert(
            name.clone(),
            NodeProj {
                name,
                zone: Some(format!("{region}-{}", (b'a' + z) as char)),
                region: Some(region.clone()),
            },
        );
    }
    for i in 0..services {
        let key = ServiceKey::new(format!("ns-{}", i % 50), format!("svc-{i}"));
        let n = m * services + i + ip_salt;
        let ip = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + n));
        s.services.insert(
            key.clone(),
            ServiceProj {
                federated: true,
                ingress: vec![Target::Ip(ip)].into(),
                options: ServiceOptions::default(),
                problems: vec![].into(),
            },
        );
        add_ready_slice(&mut s, &key);
    }
    s
}

/// An EndpointSlice `<name>-x` of Service `key` with two ready endpoints.
pub(crate) fn add_ready_slice(s: &mut MemberSnapshot, key: &ServiceKey) {
    let slice = format!("{}-x", key.name);
    s.slices.insert(
        (key.namespace.clone(), slice.clone().into()),
        SliceProj {
            namespace: key.namespace.clone(),
            name: slice.into(),
            service: key.name.clone(),
            ready: 2,
        },
    );
}
