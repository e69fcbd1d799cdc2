//! The provider's configuration, embeddable in the controller's YAML as
//! `provider: { clouddns: { ... } }`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::CloudDnsError;

/// The Cloud DNS v1 REST endpoint.
pub const DEFAULT_BASE_URL: &str = "https://dns.googleapis.com/dns/v1/";

/// Cloud DNS provider settings.
///
/// ```yaml
/// provider:
///   clouddns:
///     project: my-project           # default: the credentials' project
///     dns_name: example.com         # or managed_zone: example-com (or both, to check them)
///     credentials_file: /var/run/secrets/gcp/sa.json   # default: gcp_auth's chain
///     requests_per_second: 20       # client-side limit across all calls
///     wait_for_done: false          # poll changes.get until each change is done
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudDnsConfig {
    /// The GCP project holding the zone; default: the project of the credentials.
    pub project: Option<String>,
    /// The managed zone's resource name (such as `example-com`).
    pub managed_zone: Option<String>,
    /// The zone's DNS name (such as `example.com`); used to find the managed zone when
    /// `managed_zone` is not set, and checked against it when both are.
    pub dns_name: Option<String>,
    /// A service-account key file (JSON); default: gcp_auth's chain
    /// (`GOOGLE_APPLICATION_CREDENTIALS`, the application-default credentials file, the
    /// metadata server / Workload Identity, `gcloud`).
    pub credentials_file: Option<PathBuf>,
    /// The API's base URL, ending in `/dns/v1/` (default [`DEFAULT_BASE_URL`]; tests point it
    /// at a fake).
    pub base_url: String,
    /// Poll `changes.get` after each accepted change until it is `done` (bounded; default
    /// false).
    pub wait_for_done: bool,
    /// Client-side rate limit across all calls, in requests per second (default 20).
    pub requests_per_second: f64,
}

impl Default for CloudDnsConfig {
    fn default() -> Self {
        Self {
            project: None,
            managed_zone: None,
            dns_name: None,
            credentials_file: None,
            base_url: DEFAULT_BASE_URL.to_string(),
            wait_for_done: false,
            requests_per_second: 20.0,
        }
    }
}

/// True for a GCP resource name usable in a URL path as is (project ids, managed zone names).
fn is_resource_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl CloudDnsConfig {
    /// Checks the settings that need no network.
    pub fn validate(&self) -> Result<(), CloudDnsError> {
        let err = |m: String| Err(CloudDnsError::Config(m));
        let zone = self.managed_zone.as_deref().filter(|s| !s.is_empty());
        let name = self.dns_name.as_deref().filter(|s| !s.is_empty());
        if zone.is_none() && name.is_none() {
            return err("clouddns: set managed_zone or dns_name".to_string());
        }
        if let Some(z) = zone
            && !is_resource_name(z)
        {
            return err(format!("clouddns: managed_zone {z:?} is not a managed zone name"));
        }
        if let Some(n) = name {
            let n = n.strip_suffix('.').unwrap_or(n);
            if n.is_empty() || n.len() > 253 || n.split('.').any(|l| l.is_empty() || l.len() > 63) {
                return err(format!("clouddns: dns_name {n:?} is not a DNS name"));
            }
        }
        if let Some(p) = self.project.as_deref()
            && !is_resource_name(p)
        {
            return err(format!("clouddns: project {p:?} is not a project id"));
        }
        if let Some(f) = &self.credentials_file
            && f.as_os_str().is_empty()
        {
            return err("clouddns: credentials_file is empty".to_string());
        }
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            return err(format!(
                "clouddns: base_url {:?} must be an http(s) URL",
                self.base_url
            ));
        }
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            return err(format!(
                "clouddns: requests_per_second must be a positive number, not {}",
                self.requests_per_second
            ));
        }
        Ok(())
    }

    /// The base URL with exactly one trailing slash.
    pub(crate) fn normalized_base_url(&self) -> String {
        format!("{}/", self.base_url.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = CloudDnsConfig::default();
        assert!((c.requests_per_second - 20.0).abs() < f64::EPSILON);
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert!(!c.wait_for_done);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("clouddns: set managed_zone or dns_name"), "{e}");
        let ok = CloudDnsConfig {
            dns_name: Some("example.com.".into()),
            ..CloudDnsConfig::default()
        };
        ok.validate().unwrap();
        let bad = |c: CloudDnsConfig, field: &str| {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e} should name {field}");
        };
        bad(
            CloudDnsConfig {
                requests_per_second: 0.0,
                ..ok.clone()
            },
            "requests_per_second",
        );
        bad(
            CloudDnsConfig {
                managed_zone: Some("a/b".into()),
                ..ok.clone()
            },
            "managed_zone",
        );
        bad(
            CloudDnsConfig {
                project: Some("p?x".into()),
                ..ok.clone()
            },
            "project",
        );
        bad(
            CloudDnsConfig {
                base_url: "ftp://x".into(),
                ..ok.clone()
            },
            "base_url",
        );
        bad(
            CloudDnsConfig {
                dns_name: Some("a..b".into()),
                ..ok
            },
            "dns_name",
        );
    }

    #[test]
    fn deserializes_strictly() {
        let c: CloudDnsConfig = serde_json::from_str(r#"{"managed_zone":"z","wait_for_done":true}"#).unwrap();
        assert_eq!(c.managed_zone.as_deref(), Some("z"));
        assert!(c.wait_for_done);
        assert!(serde_json::from_str::<CloudDnsConfig>(r#"{"zone":"z"}"#).is_err());
    }
}
