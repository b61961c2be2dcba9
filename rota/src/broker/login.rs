//! The built-in broker's own login, for when the api asks for sign-in (API tokens or OIDC) and no
//! users file is given: a broker that anyone on the machine could write to would be a way around
//! sign-in (start forged rides, rewrite a ride's history, delete Rota's topics). Then the broker
//! admits only clients that log in with SASL/SCRAM, and Rota's parts log in as [`USER`] with a
//! random password made once and kept in the data directory, in two files other clients on this
//! machine use as they are:
//!
//! - [`LIBRDKAFKA_FILE`], librdkafka's properties: `kcat -F`, confluent-kafka, and `rota kafka`,
//!   which reads it by itself;
//! - [`JAVA_FILE`], for Kafka's own tools (`--command-config`) and Java clients.
//!
//! Both are readable by their owner only. Whoever can read them may write every topic, as the
//! owner of the data directory may anyway.

use std::{
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};

use super::security::User;

/// The user Rota's parts log in as.
pub const USER: &str = "rota";
/// librdkafka's settings for the login, in the data directory.
pub const LIBRDKAFKA_FILE: &str = "kafka-client.conf";
/// The same for Java clients, in the data directory.
pub const JAVA_FILE: &str = "kafka-client.properties";
/// SCRAM-SHA-512: the stronger of the two the broker takes, and the one Kafka's docs show.
const MECHANISM: &str = "SCRAM-SHA-512";

/// The data directory's login.
pub struct Login {
    password: String,
    /// `SASL_SSL` when the listener is TLS, else `SASL_PLAINTEXT`.
    protocol: &'static str,
}

impl Login {
    /// The login of `data_dir`: the one made before, or a new one, written to both files.
    pub fn ensure(data_dir: &Path, tls: bool) -> Result<Self> {
        let protocol = if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" };
        let password = match read_settings(data_dir)? {
            Some(settings) => setting(&settings, "sasl.password")
                .with_context(|| format!("{} has no sasl.password", file(data_dir).display()))?,
            None => {
                let mut bytes = [0u8; 24];
                getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        let login = Self { password, protocol };
        // Written at every start, so a change of TLS or a lost file is mended.
        write_private(&file(data_dir), &login.librdkafka_text())?;
        write_private(&data_dir.join(JAVA_FILE), &login.java_text())?;
        Ok(login)
    }

    /// The broker's user for this login.
    pub fn user(&self) -> User {
        User::new(USER, &self.password)
    }

    /// The librdkafka settings that log in.
    pub fn settings(&self) -> Vec<(String, String)> {
        [
            ("security.protocol", self.protocol),
            ("sasl.mechanisms", MECHANISM),
            ("sasl.username", USER),
            ("sasl.password", &self.password),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .to_vec()
    }

    fn librdkafka_text(&self) -> String {
        let mut text = "# The built-in broker's login (sign-in is on): for librdkafka clients, \
                        such as kcat -F this-file.\n"
            .to_owned();
        for (key, value) in self.settings() {
            text += &format!("{key}={value}\n");
        }
        text
    }

    fn java_text(&self) -> String {
        format!(
            "# The built-in broker's login (sign-in is on): for Kafka's tools, such as\n\
             # kafka-topics --command-config this-file.\n\
             security.protocol={}\nsasl.mechanism={MECHANISM}\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"{USER}\" password=\"{}\";\n",
            self.protocol, self.password
        )
    }
}

/// The librdkafka settings of `data_dir`'s login, if the built-in broker made one there.
pub fn read_settings(data_dir: &Path) -> Result<Option<Vec<(String, String)>>> {
    let path = file(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut settings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("{}:{}: expected key=value", path.display(), index + 1);
        };
        settings.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Some(settings))
}

fn file(data_dir: &Path) -> PathBuf {
    data_dir.join(LIBRDKAFKA_FILE)
}

fn setting(settings: &[(String, String)], key: &str) -> Option<String> {
    settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Writes `text` to `path`, readable and writable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_login_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_settings(dir.path()).unwrap().is_none());
        let first = Login::ensure(dir.path(), false).unwrap();
        let again = Login::ensure(dir.path(), true).unwrap();
        assert_eq!(first.password, again.password, "kept across starts");
        assert_eq!(first.password.len(), 48);
        let settings = read_settings(dir.path()).unwrap().unwrap();
        assert_eq!(settings, again.settings());
        assert_eq!(
            setting(&settings, "security.protocol").as_deref(),
            Some("SASL_SSL")
        );
        for name in [LIBRDKAFKA_FILE, JAVA_FILE] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let java = std::fs::read_to_string(dir.path().join(JAVA_FILE)).unwrap();
        assert!(
            java.contains(&format!(
                "username=\"rota\" password=\"{}\";",
                first.password
            )),
            "{java}"
        );
    }
}
