//! The built-in Kafka-compatible broker: nisshi, embedded in this process, storing topics, messages
//! and consumer-group offsets in a SQLite file in the data directory, so they survive a restart.
//!
//! Clients connect to the public address, where [`compat`] relays to nisshi on a loopback port of
//! its own; nisshi advertises the public address, so every connection goes through the relay.

mod compat;
pub mod login;
mod migrate;
pub mod security;

use std::{
    net::SocketAddr,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use compat::Relay;
use nisshi_broker::{
    broker::Broker,
    coordinator::group::administrator::{Controller, GroupCoordinatorConfig},
};
use nisshi_storage::ArcDynStorage;
use security::BrokerSecurity;
use tokio::task::JoinHandle;
use tracing::{error, info};
use url::Url;

/// How long a new group's first join waits for more members (Kafka's
/// `group.initial.rebalance.delay.ms`, 3 s there): short, as one laptop's processes start together.
const INITIAL_REBALANCE_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

/// A running built-in broker; dropping it leaves it running, [`BuiltInBroker::stop`] ends it.
pub struct BuiltInBroker {
    pub addr: SocketAddr,
    /// What a client sets to log in with the data directory's own login; none when there is none.
    pub login: Vec<(String, String)>,
    broker: JoinHandle<()>,
    relay: JoinHandle<()>,
}

impl BuiltInBroker {
    /// Starts a broker listening on `addr` with its log in `data_dir/broker.db`, its clients
    /// connecting as `security` says.
    pub async fn start(
        addr: SocketAddr,
        data_dir: &Path,
        security: &BrokerSecurity,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("kafka listener {addr} is not free"))?;
        let addr = listener.local_addr()?;
        let internal = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let file = data_dir.join("broker.db");
        if let Some(headers) = migrate::from_tansu(&file).await? {
            info!(file = %file.display(), headers, "migrated the broker log from tansu 0.6");
        }
        let storage = storage_url(&file)?;
        let (users, login) = match (&security.users_file, security.own_login) {
            (Some(path), _) => (security::read_users(path)?, None),
            (None, true) => {
                let login = login::Login::ensure(data_dir, security.tls.is_some())?;
                info!(
                    user = login::USER,
                    files = %format!("{} and {}", login::LIBRDKAFKA_FILE, login::JAVA_FILE),
                    "sign-in is on: broker clients log in; other clients of this machine use the login in the data directory"
                );
                (vec![login.user()], Some(login))
            }
            (None, false) => (Vec::new(), None),
        };
        if !users.is_empty() {
            security::store_users(&storage, data_dir, &users).await?;
            info!(users = users.len(), "broker clients log in with SASL/SCRAM");
        }
        let users = !users.is_empty();
        if !users && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "the built-in broker listens beyond loopback with no authentication: anyone who \
                 reaches it may read and write every topic (--kafka-users-file)"
            );
        }
        let tls = security
            .tls
            .as_ref()
            .map(security::tls_config)
            .transpose()?;
        let relay_mode = if tls.is_some() {
            Relay::Opaque
        } else {
            Relay::Rewriting
        };
        let mut broker = Broker::<Controller<ArcDynStorage>, ArcDynStorage>::builder()
            .node_id(1)
            .cluster_id(events::cluster::BUILT_IN_CLUSTER_ID)
            .incarnation_id(uuid::Uuid::new_v4())
            .advertised_listener(Url::parse(&format!("tcp://{addr}"))?)
            .listener(Url::parse(&format!("tcp://{internal}"))?)
            .storage(storage)
            .silent(true)
            .authentication(users)
            .tls_server_config(tls)
            .group_coordinator(GroupCoordinatorConfig {
                initial_rebalance_delay: INITIAL_REBALANCE_DELAY,
                ..GroupCoordinatorConfig::default()
            })
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("starting the built-in broker: {e:?}"))?;
        // `serve`, not `main`: `main` installs its own signal handlers; shutdown is ours.
        let broker = tokio::spawn(async move {
            if let Err(e) = broker.serve(tokio::time::Instant::now()).await {
                error!(error = ?e, "built-in broker stopped");
            }
        });
        // `serve` binds its listener in its own time; a client relayed before that would be
        // dropped. The public listener queues clients meanwhile.
        if let Err(e) = serving(internal, &broker).await {
            broker.abort();
            return Err(e);
        }
        let relay = tokio::spawn(compat::serve(listener, internal, relay_mode));
        let clients = security.describe();
        info!(%addr, log = %file.display(), clients, "built-in Kafka broker listening");
        Ok(Self {
            addr,
            login: login.map(|l| l.settings()).unwrap_or_default(),
            broker,
            relay,
        })
    }

    /// Stops accepting and drops every connection. SQLite commits each write, so nothing
    /// acknowledged is lost.
    pub async fn stop(self) {
        for task in [self.relay, self.broker] {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Waits until nisshi accepts connections on `internal`, or fails if it stopped or took 30 s.
async fn serving(internal: SocketAddr, broker: &JoinHandle<()>) -> Result<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while tokio::net::TcpStream::connect(internal).await.is_err() {
        if broker.is_finished() {
            bail!("the built-in broker stopped before it served");
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the built-in broker did not listen on {internal} within 30 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}

/// nisshi resolves a `sqlite:` URL's path against the working directory, so an absolute data
/// directory is handed over as a relative path from there (an opaque URL path keeps its `..`).
fn storage_url(file: &Path) -> Result<Url> {
    let cwd = std::env::current_dir()?;
    let absolute = if file.is_absolute() {
        file.to_owned()
    } else {
        cwd.join(file)
    };
    let relative = relative_to(&absolute, &cwd);
    let Some(text) = relative.to_str() else {
        bail!("data directory {} is not valid UTF-8", file.display());
    };
    // `mode=direct`: storage calls share a pool of SQLite connections (WAL: readers alongside the
    // one writer) instead of nisshi's default of one call at a time, so fetches no longer queue
    // behind produces (measured in the README's Benchmark).
    Ok(Url::parse(&format!("sqlite:{text}?mode=direct"))?)
}

/// `path` relative to `base`; both absolute.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let (path, base) = (normal(path), normal(base));
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut relative: PathBuf = base[common..]
        .iter()
        .map(|_| Component::ParentDir)
        .collect();
    relative.extend(&path[common..]);
    relative
}

fn normal(path: &Path) -> Vec<Component<'_>> {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_out_of_the_working_directory() {
        assert_eq!(
            relative_to(Path::new("/a/b/c.db"), Path::new("/a/x/y")),
            Path::new("../../b/c.db")
        );
        assert_eq!(
            relative_to(Path::new("/a/./b.db"), Path::new("/a")),
            Path::new("b.db")
        );
        let url = storage_url(Path::new("data/broker.db")).unwrap();
        assert_eq!(
            (url.scheme(), url.path(), url.query()),
            ("sqlite", "data/broker.db", Some("mode=direct"))
        );
    }
}
