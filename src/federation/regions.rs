//! Region data that ships with feddns. Pure.
//!
//! * [`RegionMap`]: member region → AWS region for latency routing (`src/federation/data/latency-regions.yaml`),
//!   extended or overridden by the configuration. A region that is not in it is reported, never
//!   guessed.
//! * [`RegionMap::geo_location`]: member region → GCP region for Cloud DNS geo routing
//!   (`src/federation/data/geo-locations.yaml`), extended or overridden by `routing.locations`.
//! * [`elb_alias`]: the Route53 alias target of an AWS load balancer hostname, from the canonical
//!   hosted zone ids of Elastic Load Balancing (`src/federation/data/elb-hosted-zones.yaml`).

use std::collections::BTreeMap;

use serde::Deserialize;

const SHIPPED: &str = include_str!("data/latency-regions.yaml");
const SHIPPED_GEO: &str = include_str!("data/geo-locations.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    aws: Vec<String>,
    nearest: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoTable {
    gcp: Vec<String>,
    nearest: BTreeMap<String, String>,
}

/// Member region → AWS region (latency routing) and GCP location (geo routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMap {
    map: BTreeMap<String, String>,
    geo: BTreeMap<String, String>,
}

impl RegionMap {
    /// The shipped table, with `overrides` applied on top.
    pub fn shipped_with(overrides: &BTreeMap<String, String>) -> Self {
        // The shipped table is part of the binary and covered by a test: it always parses.
        let table: Table =
            serde_saphyr::from_str(SHIPPED).unwrap_or_else(|e| unreachable!("shipped region table: {e}"));
        let mut map: BTreeMap<String, String> = table.aws.into_iter().map(|r| (r.clone(), r)).collect();
        map.extend(table.nearest);
        map.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        let geo: GeoTable = serde_saphyr::from_str(SHIPPED_GEO)
            .unwrap_or_else(|e| unreachable!("shipped location table: {e}"));
        let mut g: BTreeMap<String, String> = geo.gcp.into_iter().map(|r| (r.clone(), r)).collect();
        g.extend(geo.nearest);
        Self { map, geo: g }
    }

    /// Builder: `overrides` on top of the shipped member region → GCP location table.
    #[must_use]
    pub fn with_locations(mut self, overrides: &BTreeMap<String, String>) -> Self {
        self.geo
            .extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }

    /// The GCP location (Cloud DNS geo item) for a member region.
    pub fn geo_location(&self, member_region: &str) -> Option<&str> {
        self.geo.get(member_region).map(String::as_str)
    }

    /// The AWS region for a member region.
    pub fn aws_region(&self, member_region: &str) -> Option<&str> {
        self.map.get(member_region).map(String::as_str)
    }
}

impl Default for RegionMap {
    fn default() -> Self {
        Self::shipped_with(&BTreeMap::new())
    }
}

const ELB_ZONES: &str = include_str!("data/elb-hosted-zones.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ElbZones {
    application_and_classic: BTreeMap<String, String>,
    network: BTreeMap<String, String>,
}

fn elb_zones() -> &'static ElbZones {
    static ZONES: std::sync::OnceLock<ElbZones> = std::sync::OnceLock::new();
    // The shipped table is part of the binary and covered by a test: it always parses.
    ZONES.get_or_init(|| {
        serde_saphyr::from_str(ELB_ZONES).unwrap_or_else(|e| unreachable!("shipped ELB table: {e}"))
    })
}

/// The Route53 alias target for an AWS load balancer hostname (`…<region>.elb.amazonaws.com` for
/// Application and Classic, `…elb.<region>.amazonaws.com` for Network load balancers), or `None`
/// for any other name or a region missing from the table.
pub fn elb_alias(hostname: &str) -> Option<feddns_provider::AliasTarget> {
    let host = hostname.strip_suffix(".amazonaws.com")?;
    let zones = elb_zones();
    let (table, region) = if let Some(rest) = host.strip_suffix(".elb") {
        (&zones.application_and_classic, rest.rsplit('.').next()?)
    } else {
        let (before, region) = host.rsplit_once('.')?;
        if !before.ends_with(".elb") {
            return None;
        }
        (&zones.network, region)
    };
    let zone = table.get(region)?;
    Some(feddns_provider::AliasTarget {
        hosted_zone_id: zone.clone(),
        dns_name: hostname.to_string(),
        evaluate_target_health: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_parses_and_maps_every_target_to_an_aws_region() {
        let table: Table = serde_saphyr::from_str(SHIPPED).unwrap();
        for (from, to) in &table.nearest {
            assert!(
                table.aws.contains(to),
                "{from} maps to {to}, which is not an AWS region in the table"
            );
            assert!(
                !table.aws.contains(from),
                "{from} is an AWS region and must map to itself"
            );
        }
        let m = RegionMap::default();
        assert_eq!(m.aws_region("us-east-1"), Some("us-east-1"));
        assert_eq!(m.aws_region("us-east1"), Some("us-east-1"));
        assert_eq!(m.aws_region("westeurope"), Some("eu-central-1"));
        assert_eq!(m.aws_region("asia-northeast1"), Some("ap-northeast-1"));
        assert_eq!(m.aws_region("moon-base-1"), None);
    }

    #[test]
    fn elb_hostnames_map_to_their_canonical_zones() {
        let alb =
            elb_alias("a9d02aafa350411e7999c0ad4271fa7c-336709007.us-east-1.elb.amazonaws.com").unwrap();
        assert_eq!(alb.hosted_zone_id, "Z35SXDOTRQ7X7K");
        assert!(alb.evaluate_target_health);
        let dualstack = elb_alias("dualstack.web-1.eu-west-1.elb.amazonaws.com").unwrap();
        assert_eq!(dualstack.hosted_zone_id, "Z32O12XQLNTSW2");
        let nlb = elb_alias("net-lb-0123456789abcdef.elb.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(nlb.hosted_zone_id, "Z2IFOLAFXWLO4F");
        assert_eq!(elb_alias("lb.example.net"), None);
        assert_eq!(elb_alias("x.elb.moon-1.amazonaws.com"), None);
        assert_eq!(elb_alias("s3.us-east-1.amazonaws.com"), None);
        let zones = elb_zones();
        for id in zones
            .application_and_classic
            .values()
            .chain(zones.network.values())
        {
            assert!(
                id.starts_with('Z') && id.len() >= 12 && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{id}"
            );
        }
    }

    #[test]
    fn shipped_location_table_maps_every_region_to_a_gcp_location() {
        let table: GeoTable = serde_saphyr::from_str(SHIPPED_GEO).unwrap();
        for (from, to) in &table.nearest {
            assert!(
                table.gcp.contains(to),
                "{from} maps to {to}, not a GCP region in the table"
            );
            assert!(
                !table.gcp.contains(from),
                "{from} is a GCP region and must map to itself"
            );
        }
        // Every region the latency table knows (AWS, GCP, Azure) has a location too.
        let aws: Table = serde_saphyr::from_str(SHIPPED).unwrap();
        let m = RegionMap::default();
        for r in aws.aws.iter().chain(aws.nearest.keys()) {
            assert!(m.geo_location(r).is_some(), "{r} has no geo location");
        }
        assert_eq!(m.geo_location("europe-west1"), Some("europe-west1"));
        assert_eq!(m.geo_location("us-east-1"), Some("us-east4"));
        assert_eq!(m.geo_location("westeurope"), Some("europe-west4"));
        assert_eq!(m.geo_location("moon-base-1"), None);
        let m = m.with_locations(&BTreeMap::from([("dc-1".to_string(), "us-east1".to_string())]));
        assert_eq!(m.geo_location("dc-1"), Some("us-east1"));
    }

    #[test]
    fn overrides_win_and_extend() {
        let m = RegionMap::shipped_with(&BTreeMap::from([
            ("us-east1".to_string(), "us-east-2".to_string()),
            ("dc-frankfurt".to_string(), "eu-central-1".to_string()),
        ]));
        assert_eq!(m.aws_region("us-east1"), Some("us-east-2"));
        assert_eq!(m.aws_region("dc-frankfurt"), Some("eu-central-1"));
    }
}
