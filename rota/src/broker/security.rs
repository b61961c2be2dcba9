//! The built-in broker's listener security, for a broker others reach over a network: TLS (a
//! certificate and key in PEM files), and SASL/SCRAM logins (SCRAM-SHA-256 and -512) for the users
//! of a users file, one `name:password` a line.
//!
//! nisshi keeps SCRAM credentials in its storage; they are written there at start-up from the
//! file, and the users of the last start's file who are no longer in it are deleted, so the file
//! is the whole list.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use nisshi_sans_io::ScramMechanism;
use nisshi_storage::{ArcDynStorage, BrokerRegistrationRequest, ScramCredential, StorageContainer};
use rsasl::mechanisms::scram::tools::{derive_keys, hash_password};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use sha2::{Digest, Sha256, Sha512};
use url::Url;

/// PBKDF2 rounds of a stored credential: Kafka's `kafka-configs` default.
const ITERATIONS: u32 = 4096;
/// Where the names of the users last written are kept, beside the broker log.
const USERS_WRITTEN: &str = "broker-users.txt";

/// How the built-in broker's clients connect, as configured.
#[derive(Clone, Debug, Default)]
pub struct BrokerSecurity {
    /// The listener's certificate chain and private key (PEM): the listener is TLS only.
    pub tls: Option<TlsFiles>,
    /// Users who may log in with SASL/SCRAM: then every client must.
    pub users_file: Option<PathBuf>,
    /// With no users file, whether every client must log in all the same, with the data
    /// directory's own login ([`super::login`]): so it is when the api asks for sign-in.
    pub own_login: bool,
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl BrokerSecurity {
    /// What the log says of it: never a secret.
    pub fn describe(&self) -> &'static str {
        match (&self.tls, self.users_file.is_some() || self.own_login) {
            (Some(_), true) => "TLS, SASL/SCRAM",
            (Some(_), false) => "TLS, no authentication",
            (None, true) => "SASL/SCRAM in plaintext",
            (None, false) => "plaintext, no authentication",
        }
    }
}

/// A user who may log in.
#[derive(Debug, PartialEq)]
pub struct User {
    pub name: String,
    password: String,
}

impl User {
    pub fn new(name: &str, password: &str) -> Self {
        Self {
            name: name.to_owned(),
            password: password.to_owned(),
        }
    }
}

/// The TLS configuration of the listener, from the PEM files; errors name the file.
pub fn tls_config(files: &TlsFiles) -> Result<rustls::ServerConfig> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate chain {}", files.cert.display()))?;
    if certs.is_empty() {
        bail!("{}: no PEM certificate in it", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the private key {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "{} and {} are not a certificate and its key",
                files.cert.display(),
                files.key.display()
            )
        })
}

/// Reads `name:password` lines; blank lines and `#` comments are skipped. An error names the file
/// and line, and never shows a password.
pub fn read_users(path: &Path) -> Result<Vec<User>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the users file {}", path.display()))?;
    let mut users: Vec<User> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{}:{}", path.display(), index + 1);
        let Some((name, password)) = line.split_once(':') else {
            bail!("{}: expected name:password", at());
        };
        if name.is_empty() || name.contains([',', '=']) {
            bail!("{}: a user name is not empty and has no ',' or '='", at());
        }
        if password.is_empty() {
            bail!("{}: user {name:?} has an empty password", at());
        }
        if users.iter().any(|u| u.name == name) {
            bail!("{}: user {name:?} is listed twice", at());
        }
        users.push(User {
            name: name.to_owned(),
            password: password.to_owned(),
        });
    }
    if users.is_empty() {
        bail!("{}: no users in it", path.display());
    }
    Ok(users)
}

/// Writes each user's SCRAM credentials into the broker's storage at `storage`, and deletes those
/// of users written at the last start who are no longer listed.
pub async fn store_users(storage: &Url, data_dir: &Path, users: &[User]) -> Result<()> {
    let store = open(storage).await?;
    // Credentials belong to the cluster's row, which registering makes (as the broker does).
    store
        .register_broker(BrokerRegistrationRequest {
            broker_id: 1,
            cluster_id: events::cluster::BUILT_IN_CLUSTER_ID.to_owned(),
            incarnation_id: uuid::Uuid::new_v4(),
            rack: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!("registering the broker in its log: {e:?}"))?;
    let mechanisms = [ScramMechanism::Scram256, ScramMechanism::Scram512];
    for user in users {
        for mechanism in mechanisms {
            let failed = |e| anyhow::anyhow!("storing user {:?}: {e:?}", user.name);
            store
                .upsert_user_scram_credential(&user.name, mechanism, credential(user, mechanism))
                .await
                .map_err(failed)?;
            // An upsert that matched no row says nothing: read it back.
            let kept = store.user_scram_credential(&user.name, mechanism).await;
            if !matches!(kept, Ok(Some(_))) {
                bail!(
                    "the broker log did not keep user {:?}'s credential",
                    user.name
                );
            }
        }
    }
    let written = data_dir.join(USERS_WRITTEN);
    let before = std::fs::read_to_string(&written).unwrap_or_default();
    for gone in before
        .lines()
        .filter(|n| users.iter().all(|u| u.name != *n))
    {
        for mechanism in mechanisms {
            store
                .delete_user_scram_credential(gone, mechanism)
                .await
                .map_err(|e| anyhow::anyhow!("deleting user {gone:?}: {e:?}"))?;
        }
        tracing::info!(
            user = gone,
            "removed a broker user no longer in the users file"
        );
    }
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    std::fs::write(&written, names.join("\n") + "\n")
        .with_context(|| format!("writing {}", written.display()))?;
    Ok(())
}

/// The broker log at `storage`, opened as nisshi opens it, while the broker is not running.
async fn open(storage: &Url) -> Result<ArcDynStorage> {
    let mut builder = StorageContainer::builder()
        .node_id(1)
        .cluster_id(events::cluster::BUILT_IN_CLUSTER_ID)
        .advertised_listener(Url::parse("tcp://127.0.0.1:9092")?)
        .storage(storage.clone())
        .silent(true);
    builder.with_factory(Arc::new(nisshi_storage_sql::LiteEngineFactory));
    builder
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("opening the broker log for its users: {e:?}"))
}

/// The credential a SCRAM server keeps (RFC 5802): salt, rounds, `H(ClientKey)` and `ServerKey`.
fn credential(user: &User, mechanism: ScramMechanism) -> ScramCredential {
    let mut salt = [0u8; 24];
    getrandom::fill(&mut salt).expect("the operating system gives random bytes");
    let password = user.password.as_bytes();
    let (stored_key, server_key) = match mechanism {
        ScramMechanism::Scram256 => {
            let mut salted = Default::default();
            hash_password::<Sha256>(password, ITERATIONS, &salt, &mut salted);
            let (client_key, server_key) = derive_keys::<Sha256>(&salted);
            (Sha256::digest(client_key).to_vec(), server_key.to_vec())
        }
        ScramMechanism::Scram512 => {
            let mut salted = Default::default();
            hash_password::<Sha512>(password, ITERATIONS, &salt, &mut salted);
            let (client_key, server_key) = derive_keys::<Sha512>(&salted);
            (Sha512::digest(client_key).to_vec(), server_key.to_vec())
        }
    };
    ScramCredential {
        salt: Bytes::copy_from_slice(&salt),
        iterations: ITERATIONS as i32,
        stored_key: stored_key.into(),
        server_key: server_key.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_file_error_names_the_line_and_never_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "# users\nrota:s3cret\n\nsink:other\n").unwrap();
        let names: Vec<String> = read_users(&path)
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(names, ["rota", "sink"]);
        let cases = [
            ("rota:s3cret\nbroken-line\n", ":2: expected name:password"),
            ("rota:\n", ":1: user \"rota\" has an empty password"),
            ("rota:a\nrota:s3cret\n", ":2: user \"rota\" is listed twice"),
            ("\n# none\n", ": no users in it"),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, text).unwrap();
            let error = read_users(&path).unwrap_err().to_string();
            assert!(error.ends_with(expected), "{error:?} for {text:?}");
            assert!(error.starts_with(&path.display().to_string()), "{error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[tokio::test]
    async fn the_users_file_is_the_whole_list_of_users() {
        let dir = tempfile::tempdir().unwrap();
        let storage = super::super::storage_url(&dir.path().join("broker.db")).unwrap();
        let user = |name: &str| User {
            name: name.into(),
            password: "pw".into(),
        };
        store_users(&storage, dir.path(), &[user("rota"), user("old")])
            .await
            .unwrap();
        store_users(&storage, dir.path(), &[user("rota")])
            .await
            .unwrap();
        let store = open(&storage).await.unwrap();
        for mechanism in [ScramMechanism::Scram256, ScramMechanism::Scram512] {
            let kept = |name| store.user_scram_credential(name, mechanism);
            assert!(kept("rota").await.unwrap().is_some());
            assert!(
                kept("old").await.unwrap().is_none(),
                "a dropped user is deleted"
            );
        }
    }

    #[test]
    fn each_credential_has_a_salt_of_its_own() {
        let user = User {
            name: "rota".into(),
            password: "s3cret".into(),
        };
        let one = credential(&user, ScramMechanism::Scram512);
        let two = credential(&user, ScramMechanism::Scram512);
        assert_ne!(one.salt, two.salt);
        assert_ne!(one.stored_key, two.stored_key);
        assert_eq!(one.stored_key.len(), 64);
        assert_eq!(
            credential(&user, ScramMechanism::Scram256).stored_key.len(),
            32
        );
    }
}
