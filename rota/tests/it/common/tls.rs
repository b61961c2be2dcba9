//! A certificate authority of the test's own and a server certificate it signed for 127.0.0.1 and
//! localhost, made by the openssl command (scripts/test-setup installs it), for TLS listeners.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

pub struct TestCa {
    /// The CA's certificate: what clients trust.
    pub ca: PathBuf,
    /// The server's certificate and private key, PEM.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// Makes the files in `dir`.
    pub fn new(dir: &Path) -> Self {
        let path = |name: &str| dir.join(name).display().to_string();
        let (ca, ca_key, cert, key, csr, ext) = (
            path("ca.pem"),
            path("ca.key"),
            path("server.pem"),
            path("server.key"),
            path("server.csr"),
            path("server.ext"),
        );
        std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=Rota test CA",
                "-keyout",
                &ca_key,
                "-out",
                &ca,
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &cert,
            ],
        ];
        for args in steps {
            let output = Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl runs (scripts/test-setup installs it)");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Self {
            ca: ca.into(),
            cert: cert.into(),
            key: key.into(),
        }
    }
}
