//! moto's server (PyPI `moto[server]`), the Route53 stand-in of the full test suite, started on a
//! free port of 127.0.0.1 for a test or a benchmark and killed when dropped (feature `fake`).
//!
//! The binary is `$FEDDNS_MOTO_SERVER`, else `$HOME/.cache/feddns-moto/bin/moto_server` (where
//! `tests/run-all.sh` installs it), else `moto_server` on `PATH`. moto speaks Route53's wire
//! format but not all of its rules (see `shared/reference/standins.md`); the strict
//! [`crate::fake`] covers those.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::config::Credentials;

use crate::{Route53Config, Route53Provider, SdkApi};

/// A running `moto_server`, killed on drop.
pub struct MotoServer {
    child: Child,
    endpoint: String,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `moto_server` binary to run.
pub fn moto_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("FEDDNS_MOTO_SERVER") {
        return PathBuf::from(bin);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let cached = PathBuf::from(home).join(".cache/feddns-moto/bin/moto_server");
        if cached.is_file() {
            return cached;
        }
    }
    PathBuf::from("moto_server")
}

fn free_port() -> std::io::Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

impl MotoServer {
    /// Starts moto and waits (up to 60 s) until it accepts connections.
    pub async fn start() -> Result<Self, String> {
        let bin = moto_binary();
        let shown = bin.display();
        // A port picked free can be taken before moto binds it: try a few.
        for _ in 0..3 {
            let port = free_port().map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    format!("cannot start {shown} ({e}): install moto[server] (tests/run-all.sh does)")
                })?;
            let mut server = Self {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return Ok(server);
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    // Most likely the port was taken meanwhile: try another.
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!("{shown} did not answer on {addr} within 60 s"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(format!("{shown} could not be started on a free port"))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// A moto server, an SDK client for it, and a provider for a fresh zone `example.com`.
pub struct MotoZone {
    /// The provider (no client-side rate limit to speak of).
    pub provider: Route53Provider,
    /// The SDK client behind it.
    pub api: Arc<SdkApi>,
    server: MotoServer,
}

impl std::ops::Deref for MotoZone {
    type Target = Route53Provider;
    fn deref(&self) -> &Route53Provider {
        &self.provider
    }
}

impl MotoZone {
    /// The static credentials moto is called with (moto accepts any).
    pub fn credentials() -> Credentials {
        Credentials::new("AKIDTEST", "SECRETTEST", None, None, "static")
    }

    /// Starts moto and creates the hosted zone `example.com` through the SDK.
    pub async fn start() -> Result<Self, String> {
        Self::start_with(|_| {}).await
    }

    /// Like [`Self::start`], with the provider's settings changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Route53Config)) -> Result<Self, String> {
        let server = MotoServer::start().await?;
        let mut cfg = Route53Config {
            zone_name: Some("example.com".into()),
            endpoint_url: Some(server.endpoint.clone()),
            region: Some("us-east-1".into()),
            requests_per_second: 1000.0,
            ..Route53Config::default()
        };
        tweak(&mut cfg);
        let api = Arc::new(SdkApi::with_credentials(&cfg, Self::credentials()).await);
        api.client()
            .create_hosted_zone()
            .name("example.com")
            .caller_reference(format!("feddns-test-{}", server.endpoint))
            .send()
            .await
            .map_err(|e| format!("CreateHostedZone on moto: {e}"))?;
        let provider = Route53Provider::with_api_config(api.clone(), &cfg)
            .await
            .map_err(|e| format!("a provider on moto: {e}"))?;
        Ok(Self {
            provider,
            api,
            server,
        })
    }

    /// moto's endpoint.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }
}
