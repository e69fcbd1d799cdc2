//! Authentication: a service-account JSON file whose `token_uri` points at the fake, with a key
//! generated for the test, and the 401 path.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use feddns_clouddns::fake::StaticTokenProvider;
use feddns_clouddns::{CloudDnsConfig, CloudDnsError, CloudDnsProvider};
use feddns_provider::{Change, Provider, ProviderError};

use crate::common::{MZ, PROJECT, ZONE, a, config, fake, provider};

const EMAIL: &str = "feddns@feddns-test.iam.gserviceaccount.com";

/// A fresh 2048-bit RSA key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), made with openssl.
fn rsa_key(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.contains("BEGIN PRIVATE KEY"), "PKCS#8 expected: {pem}");
    pem
}

fn sa_json(token_uri: &str, private_key: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": private_key,
        "client_email": EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

#[tokio::test]
async fn service_account_file_gets_a_token_from_the_token_endpoint() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(dir.path(), "key.pem");
    fake.add_service_account(EMAIL, &key).unwrap();
    let sa = dir.path().join("sa.json");
    std::fs::write(&sa, sa_json(&fake.token_uri(), &key)).unwrap();

    // No project configured: it comes from the credentials.
    let cfg = CloudDnsConfig {
        project: None,
        managed_zone: Some(MZ.into()),
        dns_name: Some(ZONE.into()),
        credentials_file: Some(sa),
        ..config(&fake)
    };
    let p = CloudDnsProvider::connect(&cfg)
        .await
        .expect("connect with the service account");
    assert_eq!(p.project(), PROJECT);
    assert_eq!(p.zone(), ZONE);
    let set = a("sa", 60, &["192.0.2.1"]);
    p.apply(&[Change::create(set.clone())]).await.unwrap();
    assert!(p.list().await.unwrap().contains(&set));
    assert_eq!(
        fake.request_count("token"),
        1,
        "the token is cached: {:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn a_key_the_token_endpoint_does_not_know_fails_to_connect_cleanly() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let registered = rsa_key(dir.path(), "registered.pem");
    let other = rsa_key(dir.path(), "other.pem");
    fake.add_service_account(EMAIL, &registered).unwrap();
    let sa = dir.path().join("sa.json");
    std::fs::write(&sa, sa_json(&fake.token_uri(), &other)).unwrap();
    let cfg = CloudDnsConfig {
        credentials_file: Some(sa),
        ..config(&fake)
    };
    let e = CloudDnsProvider::connect(&cfg).await.unwrap_err();
    assert!(e.to_string().contains("access token"), "{e}");
    assert!(fake.request_count("token") >= 1);
    assert_eq!(
        fake.request_count("managedZones.list"),
        0,
        "no API call without a token"
    );
}

#[tokio::test]
async fn a_missing_credentials_file_is_a_credentials_error() {
    let fake = fake().await;
    let cfg = CloudDnsConfig {
        credentials_file: Some("/nonexistent/sa.json".into()),
        ..config(&fake)
    };
    let e = CloudDnsProvider::connect(&cfg).await.unwrap_err();
    assert!(matches!(e, CloudDnsError::Credentials(_)), "{e}");
    assert!(e.to_string().contains("/nonexistent/sa.json"), "{e}");
}

#[tokio::test]
async fn a_wrong_token_gets_a_clear_error_not_a_panic() {
    let fake = fake().await;
    let e = CloudDnsProvider::with_token_provider(
        &config(&fake),
        Arc::new(StaticTokenProvider::new("ya29.wrong", None)),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("401"), "{e}");

    // A provider whose token stops being accepted.
    let p = provider(&fake).await;
    fake.revoke_tokens();
    for e in [
        p.list().await.unwrap_err(),
        p.apply(&[Change::create(a("x", 60, &["192.0.2.1"]))])
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(e, ProviderError::Other { .. }), "{e}");
        assert!(e.to_string().contains("not authenticated"), "{e}");
    }
    let stats = p.api_stats();
    assert_eq!(stats.errors["rrsets.list"], 1, "401 is not retried: {stats:?}");
    assert_eq!(stats.errors["changes.create"], 1, "{stats:?}");
}

#[tokio::test]
async fn no_project_anywhere_is_a_credentials_error() {
    let fake = fake().await;
    let cfg = CloudDnsConfig {
        project: None,
        ..config(&fake)
    };
    let e = CloudDnsProvider::with_token_provider(&cfg, Arc::new(StaticTokenProvider::new("t", None)))
        .await
        .unwrap_err();
    assert!(matches!(e, CloudDnsError::Credentials(_)), "{e}");
}

/// A service-account file broken next to its key: the error names the file, and the line and
/// column where there is one, and shows nothing of the file.
#[tokio::test]
async fn a_broken_service_account_file_never_shows_its_content() {
    const SECRET: &str = "sekret-token-7f3a9c";
    // As numbers: a private key written as one, and the decimal bytes of a PEM line.
    const NUMBER: &str = "7131999028713";
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("sa.json");
    let shown = sa.display().to_string();
    let head = format!(
        "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"{PROJECT}\",\n  \"client_email\": \"{EMAIL}\",\n"
    );
    let cases = [
        // The key as the value of the wrong type.
        (
            format!("{head}  \"private_key\": {NUMBER},\n  \"token_uri\": \"x\"\n}}\n"),
            format!("cannot load {shown}: line 5, column 31: invalid type: integer, expected a string"),
        ),
        // The key on the line just above the break.
        (
            format!("{head}  \"private_key\": \"{SECRET}\",\n  \"token_uri\": ,\n}}\n"),
            format!("cannot load {shown}: line 6, column 16: expected value"),
        ),
        // Not closed after the key.
        (
            format!("{head}  \"private_key\": \"{SECRET}"),
            format!("cannot load {shown}: line 5, column 37: EOF while parsing a string"),
        ),
        // A key whose PEM header is broken (the PEM parser shows that line).
        (
            sa_json("x", &format!("-----BEGIN PRIVATE KEY {SECRET}\n")),
            format!("cannot load {shown}: failed to parse PKCS#8 RSA key pair"),
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&sa, &text).unwrap();
        let cfg = CloudDnsConfig {
            credentials_file: Some(sa.clone()),
            ..config(&fake)
        };
        let e = CloudDnsProvider::connect(&cfg).await.unwrap_err();
        assert!(matches!(e, CloudDnsError::Credentials(_)), "{e}");
        let e = format!("{e} {e:?} {:#}", anyhow_like(&e));
        for form in [SECRET, "7f3a9c", NUMBER, "45, 45, 45", "115, 101, 107"] {
            assert!(!e.contains(form), "{text}\nshows {form}: {e}");
        }
        assert!(e.contains(&want), "{text}\n{want:?} missing from {e}");
    }
}

/// The error and its sources, as `anyhow`'s `{:#}` would print them.
fn anyhow_like(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
