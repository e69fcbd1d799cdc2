//! Shared helpers: a DNS client over real UDP/TCP, polling with a deadline, config files.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use fake_apiserver::proxy::HangingProxy;
pub(crate) use feddns_provider::probe::Probe;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;

pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// A DNS client for one server, over UDP or TCP.
pub(crate) struct Dns {
    client: Client<TokioRuntimeProvider>,
}

impl Dns {
    pub(crate) async fn udp(addr: SocketAddr) -> Self {
        let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default())
            .with_timeout(Some(Duration::from_secs(2)))
            .build();
        let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(bg);
        Self { client }
    }

    pub(crate) async fn tcp(addr: SocketAddr) -> Self {
        let (connect, handle) = TcpClientStream::new(
            addr,
            None,
            Some(Duration::from_secs(2)),
            TokioRuntimeProvider::default(),
        );
        let (client, bg) = Client::<TokioRuntimeProvider>::with_timeout(
            connect.await.unwrap(),
            handle,
            Duration::from_secs(2),
        );
        tokio::spawn(bg);
        Self { client }
    }

    /// The answer section as `TYPE value` strings, sorted; `NXDOMAIN` or `REFUSED` for those codes.
    pub(crate) async fn ask(&mut self, name: &str, rtype: RecordType) -> Vec<String> {
        let q = Name::from_ascii(format!("{name}.")).unwrap();
        let resp = match self.client.query(q, DNSClass::IN, rtype).await {
            Ok(r) => r,
            Err(e) => return vec![format!("ERROR {e}")],
        };
        match resp.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => return vec!["NXDOMAIN".into()],
            ResponseCode::Refused => return vec!["REFUSED".into()],
            code => return vec![format!("{code:?}")],
        }
        let mut out: Vec<String> = resp
            .answers
            .iter()
            .map(|r| match &r.data {
                RData::CNAME(c) => format!("CNAME {}", c.0.to_ascii().trim_end_matches('.')),
                d => format!("{} {d}", r.record_type()),
            })
            .collect();
        out.sort();
        out
    }
}

/// Polls `check` until it returns `Ok`, or panics with its last `Err` after the deadline.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    let mut last;
    loop {
        match check().await {
            Ok(()) => return,
            Err(e) => last = e,
        }
        if tokio::time::Instant::now() > end {
            panic!("{what}: not reached within {DEADLINE:?}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `name`/`rtype` answers exactly `want`.
pub(crate) async fn expect_answer(dns: &mut Dns, name: &str, rtype: RecordType, want: &[&str]) {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let got = dns.ask(name, rtype).await;
        if got.iter().map(String::as_str).eq(want.iter().copied()) {
            return;
        }
        if tokio::time::Instant::now() > end {
            panic!("{name} {rtype}: got {got:?}, want {want:?} (waited {DEADLINE:?})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Dns {
    /// Polls until `name` answers exactly `want` to an A query (see [`expect_answer`]).
    pub(crate) async fn expect_a(&mut self, name: &str, want: &[&str]) {
        expect_answer(self, name, RecordType::A, want).await;
    }
}

/// The embedded DNS provider for `example.com` on a free port of 127.0.0.1, and a client of it.
pub(crate) async fn embedded_with_client() -> (feddns_embedded::EmbeddedProvider, Dns) {
    let provider = feddns_embedded::EmbeddedProvider::start(feddns_embedded::EmbeddedConfig {
        zone: "example.com".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .unwrap();
    let dns = Dns::udp(provider.local_addr()).await;
    (provider, dns)
}

/// The demo's directory.
pub(crate) fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo")
}

/// Copies the demo into a temporary directory with the given listen address and poll interval.
pub(crate) fn demo_copy(listen: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("members")).unwrap();
    for m in ["us", "eu", "jp"] {
        std::fs::copy(
            demo_dir().join(format!("members/{m}.yaml")),
            dir.path().join(format!("members/{m}.yaml")),
        )
        .unwrap();
    }
    let cfg = std::fs::read_to_string(demo_dir().join("config.yaml"))
        .unwrap()
        .replace("listen: 127.0.0.1:15353", &format!("listen: {listen}"))
        .replace("file_poll: 200ms", "file_poll: 20ms");
    assert!(cfg.contains(listen));
    std::fs::write(dir.path().join("config.yaml"), cfg).unwrap();
    dir
}

/// Marks the endpoints of a demo member (in the demo copy `dir`) ready, as an edit of its file.
pub(crate) fn make_ready(dir: &Path, member: &str) {
    let file = dir.join(format!("members/{member}.yaml"));
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("ready: false", "ready: true");
    replace_file(&file, &text);
}

/// Replaces a file the way editors do: write a temporary file, then rename it over the original.
pub(crate) fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub(crate) const GLOBAL: &str = "nginx.default.myfed.svc.example.com";
pub(crate) const ELB: &str = "a9d02aafa350411e7999c0ad4271fa7c-336709007.us-east-1.elb.amazonaws.com";

/// A resolver that never answers (tests whose ingress has no hostnames to resolve).
pub(crate) struct NoResolve;

#[async_trait::async_trait]
impl feddns::control::resolver::Resolve for NoResolve {
    async fn resolve(
        &self,
        host: &str,
    ) -> Result<feddns::control::resolver::Resolution, feddns::control::resolver::ResolveError> {
        Err(feddns::control::resolver::ResolveError::lookup(
            host,
            "no resolution in this test",
        ))
    }
}

impl Dns {
    /// The whole response (header flags, every section), or the client's error.
    pub(crate) async fn response(
        &mut self,
        name: &str,
        rtype: RecordType,
    ) -> Result<hickory_net::proto::op::DnsResponse, String> {
        let q = Name::from_ascii(format!("{name}.")).map_err(|e| e.to_string())?;
        self.client
            .query(q, DNSClass::IN, rtype)
            .await
            .map_err(|e| e.to_string())
    }
}

/// A credential that must never appear in an error or a log line.
pub(crate) const SECRET: &str = "sekret-token-7f3a9c";
/// [`SECRET`] in base64, as kubeconfigs hold keys.
pub(crate) const SECRET_B64: &str = "c2VrcmV0LXRva2VuLTdmM2E5Yw==";

/// Kubeconfigs broken right next to a credential: `(case, text, line, column)` of the error.
pub(crate) fn broken_kubeconfigs() -> Vec<(&'static str, String, u64, u64)> {
    let head = "apiVersion: v1\nkind: Config\ncurrent-context: c\nusers:\n- name: u\n  user:\n";
    vec![
        // The token on the line just above the break.
        (
            "token above a bad indentation",
            format!("{head}    token: {SECRET}\n   bad: indent\n"),
            8,
            4,
        ),
        // The token as the value of the wrong type.
        (
            "token where a list belongs",
            format!("apiVersion: v1\nkind: Config\nusers: {SECRET}\n"),
            3,
            8,
        ),
        // The token as a value that is not one of the allowed ones.
        (
            "token as an unknown variant",
            format!(
                "{head}    exec:\n      apiVersion: v1\n      command: x\n      interactiveMode: {SECRET}\n"
            ),
            10,
            24,
        ),
        // The token inside a flow mapping that is not closed.
        (
            "token in an unclosed flow mapping",
            format!("{head}    {{token: {SECRET}\ncontexts: []\n"),
            7,
            5,
        ),
        // The token as a duplicate key, and as the value of a duplicate key.
        (
            "token as a duplicate key",
            format!("{head}    {SECRET}: 1\n    {SECRET}: 2\n"),
            8,
            5,
        ),
        (
            "token under a duplicate key",
            format!("{head}    token: {SECRET}\n    token: {SECRET}\n"),
            8,
            5,
        ),
        // A base64 client key on a badly indented line.
        (
            "base64 client key badly indented",
            format!("{head}    client-certificate-data: Y2VydA==\n   client-key-data: {SECRET_B64}\n"),
            8,
            4,
        ),
    ]
}

/// Panics if `text` holds [`SECRET`] in any form.
pub(crate) fn assert_no_secret(what: &str, text: &str) {
    for form in [SECRET, "7f3a9c", SECRET_B64, &SECRET_B64[..20]] {
        assert!(!text.contains(form), "{what} shows the secret ({form}):\n{text}");
    }
}

/// Log lines written while the guard lives, on this thread (and so by every task of a
/// current-thread runtime).
#[derive(Clone, Default)]
pub(crate) struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    /// Captures everything at `debug` and above until the guard is dropped.
    pub(crate) fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A member's snapshot: a node in each of `zones` of `region`, and in namespace `default` each
/// `(Service, ingress IP, ready endpoints)` as a federated LoadBalancer with one EndpointSlice.
pub(crate) fn member_snapshot(
    region: &str,
    zones: &[&str],
    services: &[(&str, &str, usize)],
) -> feddns::federation::model::MemberSnapshot {
    use feddns::federation::model::{MemberSnapshot, NodeProj, ServiceKey, Target};
    let mut s = MemberSnapshot::default();
    for (i, z) in zones.iter().enumerate() {
        let name = format!("node-{i}");
        s.nodes.insert(
            name.clone(),
            NodeProj {
                name,
                zone: Some((*z).into()),
                region: Some(region.into()),
            },
        );
    }
    for (svc, ip, ready) in services {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        let key = ServiceKey::new("default", *svc);
        add_service(&mut s, key, vec![Target::Ip(ip)], &format!("{svc}-1"), *ready);
    }
    s
}

/// Adds the federated LoadBalancer Service `key` at `ingress`, with one EndpointSlice `slice` of
/// `ready` endpoints.
pub(crate) fn add_service(
    s: &mut feddns::federation::model::MemberSnapshot,
    key: feddns::federation::model::ServiceKey,
    ingress: Vec<feddns::federation::model::Target>,
    slice: &str,
    ready: usize,
) {
    use feddns::federation::model::{ServiceOptions, ServiceProj, SliceProj};
    s.slices.insert(
        (key.namespace.clone(), slice.into()),
        SliceProj {
            namespace: key.namespace.clone(),
            name: slice.into(),
            service: key.name.clone(),
            ready,
        },
    );
    s.services.insert(
        key,
        ServiceProj {
            federated: true,
            ingress: ingress.into(),
            options: ServiceOptions::default(),
            problems: vec![].into(),
        },
    );
}

/// A member's snapshot read from snapshot-file text (as `kubectl get -o yaml` prints it): a node
/// in `region` and an Ingress `shop/web` serving `hosts` at `ip`, its backend Service `web` with
/// `ready` endpoints.
pub(crate) fn ingress_snapshot(
    region: &str,
    hosts: &[&str],
    ip: &str,
    ready: usize,
) -> feddns::federation::model::MemberSnapshot {
    use feddns::federation::model::SourceKind;
    let rules: Vec<String> = hosts
        .iter()
        .map(|h| {
            format!(
                "    - host: {h}\n      http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}\n"
            )
        })
        .collect();
    let endpoints: Vec<&str> = (0..ready).map(|_| "{addresses: [10.0.0.1]}").collect();
    let text = format!(
        "kind: Node\nmetadata: {{name: n1, labels: {{topology.kubernetes.io/region: {region}, topology.kubernetes.io/zone: {region}-a}}}}\n\
         ---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web, namespace: shop}}\n\
         spec:\n  rules:\n{}\
         status: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}\n\
         ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: web-1, namespace: shop, labels: {{kubernetes.io/service-name: web}}}}\n\
         addressType: IPv4\nendpoints: [{}]\n",
        rules.concat(),
        endpoints.join(", ")
    );
    let selection = feddns::federation::selector::Selection::default().with_sources([SourceKind::Ingress]);
    let parsed = feddns::members::snapshot::parse_snapshot(&text, "ingress.yaml", &selection).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(parsed.snapshot.ingresses.len(), 1, "{text}");
    parsed.snapshot
}

/// A running `feddns` process, killed when dropped; its log lines (stderr) collected.
pub(crate) struct Running {
    child: Child,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// `feddns run -c config`.
    pub(crate) fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    /// `feddns <flags> run -c config`.
    pub(crate) fn start_with(config: &Path, flags: &[&str]) -> Self {
        let mut command = Self::command();
        command.args(flags).args(["run", "-c"]).arg(config);
        Self::spawn(command)
    }

    /// The `feddns` binary, to be given arguments and passed to [`Self::spawn`].
    pub(crate) fn command() -> Command {
        Command::new(env!("CARGO_BIN_EXE_feddns"))
    }

    /// Starts `command`, collecting its stderr.
    pub(crate) fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start feddns");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, log }
    }

    /// The DNS address from the first log line with an address.
    pub(crate) async fn addr(&self) -> SocketAddr {
        self.addr_of("").await
    }

    /// The `addr=` of the first log line that contains `message`.
    pub(crate) async fn addr_of(&self, message: &str) -> SocketAddr {
        let mut found = None;
        eventually(&format!("feddns logs an address ({message:?})"), || {
            let lines = self.log.lock().unwrap().clone();
            found = lines.iter().filter(|l| l.contains(message)).find_map(|l| {
                let rest = l.split("addr=").nth(1)?;
                rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
            });
            let r = if found.is_some() {
                Ok(())
            } else {
                Err(format!("log so far: {lines:#?}"))
            };
            async move { r }
        })
        .await;
        found.unwrap()
    }
}

/// A member's snapshot as the event its member source sends.
pub(crate) fn snapshot_event(
    member: &str,
    snapshot: feddns::federation::model::MemberSnapshot,
) -> feddns::members::MemberEvent {
    feddns::members::MemberEvent::Snapshot {
        member: member.into(),
        snapshot,
    }
}

/// A controller running on a task of its own, on the events of its channel, until stopped.
pub(crate) struct ControllerTask {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl ControllerTask {
    /// Runs `controller` on the events `rx` receives; the run must end without an error.
    pub(crate) fn spawn(
        controller: feddns::control::controller::Controller,
        rx: tokio::sync::mpsc::Receiver<feddns::members::MemberEvent>,
    ) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            controller
                .run(rx, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self { stop, task }
    }

    /// Asks the controller to stop and waits until its run has ended.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}
