//! The provider's configuration, embeddable in the controller's YAML as
//! `provider: { route53: { ... } }`.

use serde::Deserialize;

/// Route53 provider settings.
///
/// ```yaml
/// provider:
///   route53:
///     zone_name: example.com      # or zone_id: Z0123456789ABC (or both, to pin one of several)
///     requests_per_second: 5      # client-side limit across all calls (Route53's quota is 5/s)
///     wait_for_insync: false      # wait until each change is INSYNC before apply returns
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Route53Config {
    /// The hosted zone id (with or without `/hostedzone/`).
    pub zone_id: Option<String>,
    /// The hosted zone name; with several zones of this name (public and private), set
    /// `zone_id` too.
    pub zone_name: Option<String>,
    /// Send requests to this endpoint instead of AWS (tests: moto).
    pub endpoint_url: Option<String>,
    /// The signing region; default: the AWS default chain, else `us-east-1`.
    pub region: Option<String>,
    /// Client-side rate limit across all calls, in requests per second (default 5).
    pub requests_per_second: f64,
    /// Poll `GetChange` after each accepted batch until it is `INSYNC` (bounded; default false).
    pub wait_for_insync: bool,
    /// Write a replace as one `UPSERT` (when type, set identifier, routing policy and alias-ness
    /// are unchanged) instead of `DELETE` old + `CREATE` new. An UPSERT overwrites whatever the
    /// zone holds, so a replace based on a stale view is not detected; the default (false) keeps
    /// the exact-match semantics of [`feddns_provider::Change::Replace`].
    pub upsert_replaces: bool,
}

impl Default for Route53Config {
    fn default() -> Self {
        Self {
            zone_id: None,
            zone_name: None,
            endpoint_url: None,
            region: None,
            requests_per_second: 5.0,
            wait_for_insync: false,
            upsert_replaces: false,
        }
    }
}

impl Route53Config {
    /// Checks the settings that need no network.
    pub fn validate(&self) -> Result<(), crate::Route53Error> {
        if self.zone_id.as_deref().is_none_or(str::is_empty)
            && self.zone_name.as_deref().is_none_or(str::is_empty)
        {
            return Err(crate::Route53Error::Config(
                "route53: set zone_id or zone_name".to_string(),
            ));
        }
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            return Err(crate::Route53Error::Config(format!(
                "route53: requests_per_second must be a positive number, not {}",
                self.requests_per_second
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = Route53Config::default();
        assert!((c.requests_per_second - 5.0).abs() < f64::EPSILON);
        assert!(!c.wait_for_insync);
        assert!(c.validate().is_err(), "no zone");
        let c = Route53Config {
            zone_name: Some("example.com".into()),
            requests_per_second: 0.0,
            ..Route53Config::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("requests_per_second")
        );
    }
}
