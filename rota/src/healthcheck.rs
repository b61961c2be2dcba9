//! `rota healthcheck`: a container healthcheck with nothing but the binary. It asks the local
//! process's `/readyz` and exits 0 only on `200`.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const TIMEOUT: Duration = Duration::from_secs(3);

pub async fn run(listener: SocketAddr) -> Result<()> {
    let addr = local(listener);
    let status = tokio::time::timeout(TIMEOUT, readyz_status(addr))
        .await
        .with_context(|| format!("http://{addr}/readyz did not answer within {TIMEOUT:?}"))??;
    if status != "200" {
        bail!("http://{addr}/readyz answered {status}: not ready");
    }
    Ok(())
}

/// The address to ask: a wildcard listener is reached on loopback.
fn local(listener: SocketAddr) -> SocketAddr {
    let mut addr = listener;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// The status code of `GET /readyz`, read from the status line.
async fn readyz_status(addr: SocketAddr) -> Result<String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("nothing listens on {addr}"))?;
    stream
        .write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut head = Vec::new();
    stream.take(1024).read_to_end(&mut head).await?;
    let head = String::from_utf8_lossy(&head);
    head.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .with_context(|| format!("{addr} answered something that is not HTTP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_are_asked_on_loopback() {
        let ask = |s: &str| local(s.parse().unwrap()).to_string();
        assert_eq!(ask("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(ask("[::]:9000"), "[::1]:9000");
        assert_eq!(ask("10.0.0.5:8080"), "10.0.0.5:8080");
    }
}
