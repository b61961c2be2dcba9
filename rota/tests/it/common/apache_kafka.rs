//! Apache Kafka 4.4 as a test peer: a single-node KRaft cluster (broker and controller in one JVM)
//! from the jars scripts/test-setup fetched, on free ports, its log in a temporary directory.
//!
//! [`ApacheKafka::shared`] is one cluster for the whole test binary run, for tests that only need a
//! Kafka (each uses topics and groups of its own); [`ApacheKafka::start`] is a fresh one, for tests
//! that kill or restart it or need other settings (listeners, an authorizer). Kafka's own tools
//! are [`kafka_tool`]: the wrappers scripts/test-setup writes, named as Kafka's `bin/*.sh` are.
//!
//! The JVM runs under a small shell that kills it when the test binary exits, however it exits:
//! the shared cluster is never dropped.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig,
    consumer::{BaseConsumer, Consumer},
};

use super::free_port;

/// The test environment's Kafka wrappers.
fn kafka_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.test-env/kafka/bin")
}

/// One of Kafka's command-line tools (`kafka-topics`, `kafka-consumer-groups`…), as a command.
pub fn kafka_tool(name: &str) -> Command {
    let path = kafka_bin().join(name);
    assert!(
        path.exists(),
        "{} is missing: scripts/test-setup installs Apache Kafka",
        path.display()
    );
    Command::new(path)
}

/// What a cluster is started with beyond the defaults.
#[derive(Default)]
struct Setup {
    /// Server properties.
    server: Vec<(String, String)>,
    /// What every client sets.
    client: Vec<(String, String)>,
    /// `--add-scram` arguments of `kafka-storage format`: the SCRAM users made with the cluster.
    scram: Vec<String>,
}

pub struct ApacheKafka {
    /// The client listener (`bootstrap.servers`).
    pub addr: SocketAddr,
    /// Client settings every client of this cluster needs (its listener's security).
    pub client: Vec<(String, String)>,
    controller: SocketAddr,
    dir: tempfile::TempDir,
    /// Server properties beyond the defaults.
    extra: Vec<(String, String)>,
    /// The shell watching over the JVM.
    process: Option<Child>,
}

impl ApacheKafka {
    /// The cluster shared by the tests of this run, started by the first that asks.
    pub async fn shared() -> &'static Self {
        static SHARED: OnceLock<ApacheKafka> = OnceLock::new();
        if let Some(kafka) = SHARED.get() {
            return kafka;
        }
        tokio::task::spawn_blocking(|| {
            SHARED.get_or_init(|| Self::start_blocking(Setup::default()))
        })
        .await
        .unwrap()
    }

    /// A cluster of the test's own, stopped when dropped.
    pub async fn start() -> Self {
        Self::starting(Setup::default()).await
    }

    /// A cluster as a managed one is run: its client listener is SASL_SSL (the certificate of
    /// `ca`), its users log in with SCRAM-SHA-512, and Kafka's StandardAuthorizer lets a user do
    /// only what an ACL allows. `admin` (password `admin-secret`) is a super user; `users` are
    /// made besides it. Its [`ApacheKafka::client`] settings are the admin's.
    pub async fn start_secured(ca: &super::tls::TestCa, users: &[(&str, &str)]) -> Self {
        let keystore = ca.cert.with_file_name("kafka-keystore.pem");
        let pem = std::fs::read_to_string(&ca.key).unwrap()
            + std::fs::read_to_string(&ca.cert).unwrap().as_str();
        std::fs::write(&keystore, pem).unwrap();
        let admin_login = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";"#;
        let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let setup = Setup {
            server: owned(&[
                (
                    "listener.security.protocol.map",
                    "CLIENT:SASL_SSL,CONTROLLER:PLAINTEXT",
                ),
                ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
                ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"),
                (
                    "listener.name.client.scram-sha-512.sasl.jaas.config",
                    admin_login,
                ),
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.location", &keystore.display().to_string()),
                // Kafka checks at start-up that a client trusting this would accept the listener.
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.location", &ca.ca.display().to_string()),
                (
                    "authorizer.class.name",
                    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                ),
                // The controller listener stays on loopback in plaintext, where the broker in the
                // same JVM reaches it as ANONYMOUS.
                ("super.users", "User:admin;User:ANONYMOUS"),
            ]),
            client: owned(&[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "admin"),
                ("sasl.password", "admin-secret"),
                ("ssl.ca.location", &ca.ca.display().to_string()),
            ]),
            scram: std::iter::once(("admin", "admin-secret"))
                .chain(users.iter().copied())
                .map(|(name, password)| format!("SCRAM-SHA-512=[name={name},password={password}]"))
                .collect(),
        };
        Self::starting(setup).await
    }

    async fn starting(setup: Setup) -> Self {
        tokio::task::spawn_blocking(move || Self::start_blocking(setup))
            .await
            .unwrap()
    }

    fn start_blocking(setup: Setup) -> Self {
        let mut kafka = Self {
            addr: free_port(),
            client: setup.client,
            controller: free_port(),
            dir: tempfile::tempdir().unwrap(),
            extra: setup.server,
            process: None,
        };
        let properties = kafka.write_properties();
        let mut cluster_id = [0u8; 16];
        getrandom::fill(&mut cluster_id).unwrap();
        let cluster_id = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            cluster_id,
        );
        let mut format = kafka_tool("kafka-storage");
        format
            .args(["format", "--standalone", "-t", &cluster_id, "-c"])
            .arg(&properties);
        for user in &setup.scram {
            format.args(["--add-scram", user]);
        }
        let formatted = format.output().unwrap();
        assert!(
            formatted.status.success(),
            "kafka-storage format: {}",
            String::from_utf8_lossy(&formatted.stderr)
        );
        kafka.run();
        kafka
    }

    /// The cluster's bootstrap servers.
    pub fn brokers(&self) -> String {
        self.addr.to_string()
    }

    /// A librdkafka client configuration for this cluster.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.brokers());
        for (key, value) in &self.client {
            config.set(key, value);
        }
        config
    }

    /// Kills the JVM at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut shell) = self.process.take() {
            // The shell's trap kills the JVM with SIGKILL; then the shell ends.
            unsafe { libc::kill(shell.id() as i32, libc::SIGTERM) };
            let _ = shell.wait();
        }
    }

    /// Starts the killed JVM again on the same log and ports.
    pub fn restart(&mut self) {
        tokio::task::block_in_place(|| self.run());
    }

    fn write_properties(&self) -> PathBuf {
        let dir = self.dir.path().display().to_string();
        let properties = [
            ("process.roles", "broker,controller".to_owned()),
            ("node.id", "1".to_owned()),
            (
                "controller.quorum.bootstrap.servers",
                self.controller.to_string(),
            ),
            (
                "listeners",
                format!("CLIENT://{},CONTROLLER://{}", self.addr, self.controller),
            ),
            ("advertised.listeners", format!("CLIENT://{}", self.addr)),
            ("inter.broker.listener.name", "CLIENT".to_owned()),
            ("controller.listener.names", "CONTROLLER".to_owned()),
            (
                "listener.security.protocol.map",
                "CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
            ),
            ("log.dirs", format!("{dir}/log")),
            ("offsets.topic.replication.factor", "1".to_owned()),
            ("offsets.topic.num.partitions", "3".to_owned()),
            ("transaction.state.log.replication.factor", "1".to_owned()),
            ("transaction.state.log.min.isr", "1".to_owned()),
            ("transaction.state.log.num.partitions", "3".to_owned()),
            (
                "share.coordinator.state.topic.replication.factor",
                "1".to_owned(),
            ),
            ("share.coordinator.state.topic.min.isr", "1".to_owned()),
            ("group.initial.rebalance.delay.ms", "0".to_owned()),
        ];
        let mut text = String::new();
        for (key, value) in &properties {
            if self.extra.iter().all(|(k, _)| k != key) {
                text += &format!("{key}={value}\n");
            }
        }
        for (key, value) in &self.extra {
            text += &format!("{key}={value}\n");
        }
        let path = self.dir.path().join("server.properties");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts the JVM under a shell that kills it when this test binary exits, and waits until it
    /// answers a metadata request.
    fn run(&mut self) {
        let dir = self.dir.path();
        let script = r#""$0" "$1" >"$2" 2>&1 & jvm=$!
trap 'kill -9 $jvm 2>/dev/null; exit 0' TERM
while kill -0 "$3" 2>/dev/null && kill -0 $jvm 2>/dev/null; do sleep 0.5; done
kill -9 $jvm 2>/dev/null"#;
        let shell = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(kafka_bin().join("kafka-server-start"))
            .arg(dir.join("server.properties"))
            .arg(dir.join("kafka.log"))
            .arg(std::process::id().to_string())
            .env("KAFKA_HEAP_OPTS", "-Xmx512m")
            .env("KAFKA_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("sh starts");
        self.process = Some(shell);
        let consumer: BaseConsumer = self
            .client_config()
            .set("socket.timeout.ms", "1000")
            .create()
            .unwrap();
        let started = Instant::now();
        loop {
            if let Ok(metadata) = consumer.fetch_metadata(None, Duration::from_secs(1))
                && !metadata.brokers().is_empty()
            {
                eprintln!(
                    "Apache Kafka answers on {} after {:.1?}",
                    self.addr,
                    started.elapsed()
                );
                return;
            }
            let log = std::fs::read_to_string(dir.join("kafka.log")).unwrap_or_default();
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "Apache Kafka did not answer on {} within 90 s; its log:\n{log}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ApacheKafka {
    fn drop(&mut self) {
        self.kill();
    }
}
