//! The region table for latency routing: member region → provider (AWS) region. Pure.
//!
//! The table ships with feddns (`src/data/latency-regions.yaml`) and can be extended or overridden
//! in the configuration. A region that is not in it is reported, never guessed.

use std::collections::BTreeMap;

use serde::Deserialize;

const SHIPPED: &str = include_str!("data/latency-regions.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    aws: Vec<String>,
    nearest: BTreeMap<String, String>,
}

/// Member region → AWS region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMap {
    map: BTreeMap<String, String>,
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
        Self { map }
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
    fn overrides_win_and_extend() {
        let m = RegionMap::shipped_with(&BTreeMap::from([
            ("us-east1".to_string(), "us-east-2".to_string()),
            ("dc-frankfurt".to_string(), "eu-central-1".to_string()),
        ]));
        assert_eq!(m.aws_region("us-east1"), Some("us-east-2"));
        assert_eq!(m.aws_region("dc-frankfurt"), Some("eu-central-1"));
    }
}
