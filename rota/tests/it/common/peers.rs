//! Servers written by others, from PyPI, that Rota talks to as it would to the real thing:
//! noida-db (an Elasticsearch 8 API) and osmem-server (OpenSearch).
//! Each is started from the binary inside its wheel: the wrappers run it as a child that would
//! outlive them.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::process::{Child, Command};

use super::{eventually, free_port, http};

pub struct Peer {
    pub name: &'static str,
    /// The Elasticsearch-API listener.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    _process: Child,
}

impl Peer {
    /// noida-db serving its Elasticsearch API.
    pub async fn noida() -> Self {
        let addr = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(binary("noida_db", "noida-db"));
        command.args(["start", "--only", "elasticsearch", "--host", "127.0.0.1"]);
        command.args(["--elasticsearch-port".to_owned(), addr.port().to_string()]);
        command.args(["--data-dir", dir.path().to_str().unwrap()]);
        let peer = Self::spawn("noida-db", addr, dir, command);
        peer.answers().await;
        peer
    }

    /// osmem-server, an OpenSearch API (kept small with `-no-ja`).
    pub async fn osmem() -> Self {
        let addr = free_port();
        let mut command = Command::new(binary("osmem_server", "bin/osmem-server"));
        command.args(["-addr", &addr.to_string(), "-no-ja", "-no-stdin-watch"]);
        let peer = Self::spawn("osmem", addr, tempfile::tempdir().unwrap(), command);
        peer.answers().await;
        peer
    }

    fn spawn(
        name: &'static str,
        addr: SocketAddr,
        dir: tempfile::TempDir,
        mut command: Command,
    ) -> Self {
        let process = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        Self {
            name,
            addr,
            _dir: dir,
            _process: process,
        }
    }

    /// Waits until the Elasticsearch API answers, and prints the version it claims.
    async fn answers(&self) {
        let url = self.url("");
        let banner = eventually(
            &format!("{} answers", self.name),
            Duration::from_secs(20),
            || async {
                http("GET", &url, None).await.and_then(|(status, body)| {
                    (status == 200).then_some(body).ok_or(format!("{status}"))
                })
            },
        )
        .await;
        eprintln!("{}: {}", self.name, banner["version"]);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// The documents of `index` matching `query`, freshly refreshed.
    pub async fn search(&self, index: &str, body: Value) -> Value {
        http("POST", &self.url(&format!("{index}/_refresh")), None)
            .await
            .unwrap();
        let (status, found) = http(
            "POST",
            &self.url(&format!("{index}/_search")),
            Some(&body.to_string()),
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{}: {found}", self.name);
        found
    }
}

/// Debian's nginx as the TLS front of an Elasticsearch-API peer, as a managed Elasticsearch is
/// reached: `https` with the test CA's certificate, and only requests carrying
/// `Authorization: ApiKey <api_key>` get through (others are answered 401).
pub struct TlsFront {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    _process: Child,
}

impl TlsFront {
    pub async fn nginx(ca: &super::tls::TestCa, upstream: SocketAddr, api_key: &str) -> Self {
        let addr = free_port();
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let config = format!(
            "daemon off;\nworker_processes 1;\npid {pid};\nerror_log {log} warn;\n\
             events {{}}\n\
             http {{\n  access_log off;\n  client_body_temp_path {tmp};\n  proxy_temp_path {tmp};\n\
             client_max_body_size 0;\n  proxy_request_buffering off;\n  proxy_buffering off;\n\
             server {{\n    listen {addr} ssl;\n    ssl_certificate {cert};\n\
             ssl_certificate_key {key};\n    location / {{\n\
             if ($http_authorization != \"ApiKey {api_key}\") {{ return 401; }}\n\
             proxy_pass http://{upstream};\n    }}\n  }}\n}}\n",
            pid = path("nginx.pid"),
            log = path("error.log"),
            tmp = path("tmp"),
            cert = ca.cert.display(),
            key = ca.key.display(),
        );
        std::fs::write(path("nginx.conf"), config).unwrap();
        let process = Command::new("/usr/sbin/nginx")
            .args([
                "-p",
                &path(""),
                "-c",
                &path("nginx.conf"),
                "-e",
                &path("error.log"),
            ])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx starts (scripts/test-setup installs nginx-light)");
        eventually("nginx listens", Duration::from_secs(20), || async {
            tokio::net::TcpStream::connect(addr).await
        })
        .await;
        Self {
            addr,
            _dir: dir,
            _process: process,
        }
    }
}

/// The server binary inside the wheel of Python package `module`.
fn binary(module: &str, binary: &str) -> String {
    let locate = std::process::Command::new(super::python())
        .args([
            "-c",
            &format!("import {module}, os; print(os.path.dirname({module}.__file__))"),
        ])
        .output()
        .expect("the test Python runs (scripts/test-setup installs the peers)");
    assert!(locate.status.success(), "{module} is installed: {locate:?}");
    format!(
        "{}/{binary}",
        String::from_utf8(locate.stdout).unwrap().trim()
    )
}
