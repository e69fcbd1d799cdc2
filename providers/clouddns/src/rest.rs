//! [`RestApi`]: the Cloud DNS v1 REST API over `reqwest`, authenticated with a
//! [`gcp_auth::TokenProvider`].

use std::sync::Arc;
use std::time::Duration;

use gcp_auth::TokenProvider;
use serde::de::DeserializeOwned;

use crate::api::{ApiError, ApiErrorKind, CloudDnsApi, ManagedZonePage, RrsetPage, RrsetQuery};
use crate::error::auth_error;
use crate::wire::{WireChange, WireErrorBody, WireManagedZone, WireManagedZonesList, WireRrsetsList};

/// The OAuth2 scope the provider asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest error body kept in a message.
const MAX_ERROR_BODY: usize = 500;

/// The Cloud DNS v1 REST API: `reqwest` over rustls (ring, the platform's root certificates),
/// with a bearer token from a [`TokenProvider`] on every request.
pub struct RestApi {
    http: reqwest::Client,
    base_url: String,
    tokens: Arc<dyn TokenProvider>,
}

impl std::fmt::Debug for RestApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestApi")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn tls_config() -> Result<rustls::ClientConfig, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_platform_verifier()
        .map_err(|e| format!("TLS root certificates: {e}"))
        .map(|b| b.with_no_client_auth())
}

impl RestApi {
    /// A client for the API at `base_url` (such as `https://dns.googleapis.com/dns/v1/`).
    pub fn new(base_url: &str, tokens: Arc<dyn TokenProvider>) -> Result<Self, ApiError> {
        let tls = tls_config().map_err(|e| ApiError::other(ApiErrorKind::Network, e))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("feddns-clouddns/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::other(ApiErrorKind::Network, format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base_url: format!("{}/", base_url.trim_end_matches('/')),
            tokens,
        })
    }

    fn url(&self, project: &str, tail: &str) -> String {
        format!("{}projects/{project}/managedZones{tail}", self.base_url)
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, ApiError> {
        let token = self
            .tokens
            .token(&[SCOPE])
            .await
            .map_err(|e| ApiError::other(ApiErrorKind::Auth, auth_error(&e)))?;
        let resp = req.bearer_auth(token.as_str()).send().await.map_err(|e| {
            let mut err = ApiError::other(ApiErrorKind::Network, error_chain(&e));
            err.not_sent = e.is_connect();
            err
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            ApiError::other(
                ApiErrorKind::Network,
                format!("reading the answer: {}", error_chain(&e)),
            )
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| ApiError::other(ApiErrorKind::Decode, format!("{e}")));
        }
        Err(http_error(status.as_u16(), &body))
    }
}

/// An error with its sources, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// An HTTP error answer: Google's JSON error body if there is one, else the start of the body.
pub(crate) fn http_error(status: u16, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<WireErrorBody>(body) {
        Ok(b) => {
            let reason = b
                .error
                .errors
                .iter()
                .map(|e| e.reason.clone())
                .find(|r| !r.is_empty());
            ApiError::http(status, reason, b.error.message)
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(MAX_ERROR_BODY).collect();
            ApiError::http(status, None, text.trim().to_string())
        }
    }
}

#[async_trait::async_trait]
impl CloudDnsApi for RestApi {
    async fn get_managed_zone(&self, project: &str, zone: &str) -> Result<WireManagedZone, ApiError> {
        self.send(self.http.get(self.url(project, &format!("/{zone}"))))
            .await
    }

    async fn list_managed_zones(
        &self,
        project: &str,
        dns_name: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<ManagedZonePage, ApiError> {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if let Some(n) = dns_name {
            q.push(("dnsName", n));
        }
        if let Some(t) = page_token {
            q.push(("pageToken", t));
        }
        let list: WireManagedZonesList = self.send(self.http.get(self.url(project, "")).query(&q)).await?;
        Ok(ManagedZonePage {
            zones: list.managed_zones,
            next_page_token: list.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    async fn list_rrsets(
        &self,
        project: &str,
        zone: &str,
        query: &RrsetQuery,
    ) -> Result<RrsetPage, ApiError> {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(n) = &query.name {
            q.push(("name", n.clone()));
        }
        if let Some(t) = &query.rtype {
            q.push(("type", t.clone()));
        }
        if let Some(m) = query.max_results {
            q.push(("maxResults", m.to_string()));
        }
        if let Some(t) = &query.page_token {
            q.push(("pageToken", t.clone()));
        }
        let list: WireRrsetsList = self
            .send(
                self.http
                    .get(self.url(project, &format!("/{zone}/rrsets")))
                    .query(&q),
            )
            .await?;
        Ok(RrsetPage {
            rrsets: list.rrsets,
            next_page_token: list.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    async fn create_change(
        &self,
        project: &str,
        zone: &str,
        change: &WireChange,
    ) -> Result<WireChange, ApiError> {
        self.send(
            self.http
                .post(self.url(project, &format!("/{zone}/changes")))
                .json(change),
        )
        .await
    }

    async fn get_change(&self, project: &str, zone: &str, id: &str) -> Result<WireChange, ApiError> {
        self.send(self.http.get(self.url(project, &format!("/{zone}/changes/{id}"))))
            .await
    }
}
