//! A Kafka-protocol relay in front of the built-in broker that lets older librdkafka clients in.
//!
//! nisshi answers ApiVersions v3+ with four top-level tagged fields set to their default values
//! (empty `SupportedFeatures`, `FinalizedFeaturesEpoch` -1, empty `FinalizedFeatures`,
//! `ZkMigrationReady` false). Apache Kafka omits default-valued tagged fields, and librdkafka up to
//! 2.0.x (Debian's kcat 1.7.1) skips one byte too few per tagged field, so it misreads the response
//! and never connects. The relay forwards every frame unchanged except that one response, from which
//! it drops exactly the default-valued tags, as Apache Kafka would have sent it. A response it cannot
//! parse is forwarded untouched.

use std::{
    collections::HashSet,
    io,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tracing::debug;

const API_VERSIONS: i16 = 18;
/// Larger frames are refused rather than buffered (librdkafka's own `receive.message.max.bytes`
/// default is 100 MB).
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// How the relay treats the bytes it passes on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Relay {
    /// Plain Kafka frames: the one ApiVersions answer is rewritten.
    Rewriting,
    /// TLS, which only the broker can read: passed on untouched (older clients get in over
    /// plaintext only).
    Opaque,
}

/// Accepts clients on `listener` and relays each to the broker at `upstream`, until dropped.
pub async fn serve(listener: TcpListener, upstream: SocketAddr, mode: Relay) {
    // Dropping the set (when this future is dropped) ends every relay.
    let mut relays = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    relays.spawn(async move {
                        let relayed = match mode {
                            Relay::Rewriting => relay(client, upstream).await,
                            Relay::Opaque => pass_through(client, upstream).await,
                        };
                        if let Err(e) = relayed {
                            debug!(%peer, error = %e, "kafka client connection ended");
                        }
                    });
                }
                Err(e) => debug!(error = %e, "accept failed"),
            },
            Some(_) = relays.join_next(), if !relays.is_empty() => {}
        }
    }
}

async fn pass_through(mut client: TcpStream, upstream: SocketAddr) -> io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

async fn relay(client: TcpStream, upstream: SocketAddr) -> io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Correlation ids of ApiVersions v3+ requests still waiting for their response.
    let pending = Arc::new(Mutex::new(HashSet::new()));
    let requests = pump(client_read, server_write, {
        let pending = pending.clone();
        move |frame: &mut Vec<u8>| {
            if let Some(id) = api_versions_v3_request(frame) {
                pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
            }
        }
    });
    let responses = pump(server_read, client_write, move |frame: &mut Vec<u8>| {
        let id = frame
            .get(4..8)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")));
        if id.is_some_and(|id| {
            pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id)
        }) {
            omit_default_tags(frame);
        }
    });
    // Either side closing ends the connection.
    tokio::select! {
        r = requests => r,
        r = responses => r,
    }
}

/// Copies size-prefixed frames from `from` to `to`, letting `inspect` look at (and change) each.
async fn pump(
    from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut inspect: impl FnMut(&mut Vec<u8>),
) -> io::Result<()> {
    let mut from = BufReader::with_capacity(64 * 1024, from);
    let mut frame = Vec::new();
    loop {
        let mut size = [0u8; 4];
        if let Err(e) = from.read_exact(&mut size).await {
            return if e.kind() == io::ErrorKind::UnexpectedEof {
                Ok(())
            } else {
                Err(e)
            };
        }
        let len = usize::try_from(i32::from_be_bytes(size))
            .ok()
            .filter(|&len| len <= MAX_FRAME)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "frame size out of range"))?;
        frame.clear();
        frame.extend_from_slice(&size);
        frame.resize(4 + len, 0);
        from.read_exact(&mut frame[4..]).await?;
        inspect(&mut frame);
        to.write_all(&frame).await?;
    }
}

/// The correlation id of a size-prefixed ApiVersions request of version 3 or later.
fn api_versions_v3_request(frame: &[u8]) -> Option<i32> {
    let header = frame.get(4..12)?;
    let api_key = i16::from_be_bytes([header[0], header[1]]);
    let version = i16::from_be_bytes([header[2], header[3]]);
    (api_key == API_VERSIONS && version >= 3)
        .then(|| i32::from_be_bytes([header[4], header[5], header[6], header[7]]))
}

/// Rewrites a size-prefixed ApiVersions v3+ response without its default-valued top-level tagged
/// fields; leaves the frame alone if it does not parse.
pub fn omit_default_tags(frame: &mut Vec<u8>) {
    let Some((tags_at, tags)) = top_level_tags(frame) else {
        return;
    };
    let kept: Vec<&Tag<'_>> = tags.iter().filter(|tag| !is_default(tag)).collect();
    if kept.len() == tags.len() {
        return;
    }
    let mut rewritten = frame[..tags_at].to_vec();
    put_uvarint(&mut rewritten, kept.len() as u64);
    for (tag, value) in kept {
        put_uvarint(&mut rewritten, *tag);
        put_uvarint(&mut rewritten, value.len() as u64);
        rewritten.extend_from_slice(value);
    }
    let size = (rewritten.len() - 4) as i32;
    rewritten[..4].copy_from_slice(&size.to_be_bytes());
    *frame = rewritten;
}

/// Tags 0-3 of ApiVersionsResponse at their defaults: empty arrays (compact length 0 is `0x01`),
/// epoch -1 and `false`.
fn is_default((tag, value): &Tag<'_>) -> bool {
    match tag {
        0 | 2 => *value == [0x01],
        1 => *value == [0xff; 8],
        3 => *value == [0x00],
        _ => false,
    }
}

/// A tagged field: its tag and raw value.
type Tag<'a> = (u64, &'a [u8]);

/// Where the top-level tagged fields start, and each of them, if the whole frame parses.
fn top_level_tags(frame: &[u8]) -> Option<(usize, Vec<Tag<'_>>)> {
    // size (4), correlation id (4): ApiVersions responses always use header v0.
    let mut r = Reader {
        bytes: frame,
        at: 8,
    };
    r.take(2)?; // error_code
    let api_keys = r.uvarint()?.checked_sub(1)?;
    for _ in 0..api_keys {
        r.take(6)?; // api_key, min_version, max_version
        r.skip_tags()?;
    }
    r.take(4)?; // throttle_time_ms
    let tags_at = r.at;
    let count = r.uvarint()?;
    let mut tags = Vec::new();
    for _ in 0..count {
        let tag = r.uvarint()?;
        let len = usize::try_from(r.uvarint()?).ok()?;
        tags.push((tag, r.take(len)?));
    }
    (r.at == frame.len()).then_some((tags_at, tags))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn skip_tags(&mut self) -> Option<()> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let len = usize::try_from(self.uvarint()?).ok()?;
            self.take(len)?;
        }
        Some(())
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ApiVersions v3 response as nisshi sends it: two api keys, then the four default tags.
    fn nisshi_response(tags: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 0, 0, 7]; // correlation id 7
        body.extend([0, 0]); // error_code
        body.push(3); // two api keys
        body.extend([0, 18, 0, 0, 0, 4, 0]); // ApiVersions 0..4, no tags
        body.extend([0, 3, 0, 0, 0, 12, 0]); // Metadata 0..12, no tags
        body.extend([0, 0, 0, 0]); // throttle_time_ms
        body.extend(tags);
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend(body);
        frame
    }

    const NISSHI_TAGS: [u8; 20] = [
        4, 0, 1, 1, 1, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 1, 1, 3, 1, 0,
    ];

    #[test]
    fn drops_the_default_valued_tags_as_apache_kafka_would() {
        let mut frame = nisshi_response(&NISSHI_TAGS);
        omit_default_tags(&mut frame);
        assert_eq!(frame, nisshi_response(&[0]));
    }

    #[test]
    fn keeps_tags_that_carry_information() {
        // ZkMigrationReady = true and an epoch of 5 are real values.
        let tags = [2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5, 3, 1, 1];
        let mut frame = nisshi_response(&tags);
        omit_default_tags(&mut frame);
        assert_eq!(frame, nisshi_response(&tags));
        let mut mixed = nisshi_response(&[2, 0, 1, 1, 3, 1, 1]);
        omit_default_tags(&mut mixed);
        assert_eq!(mixed, nisshi_response(&[1, 3, 1, 1]));
    }

    #[test]
    fn leaves_frames_it_cannot_parse_alone() {
        let mut truncated = nisshi_response(&NISSHI_TAGS);
        truncated.pop();
        let before = truncated.clone();
        omit_default_tags(&mut truncated);
        assert_eq!(truncated, before);
    }

    #[test]
    fn recognises_api_versions_requests_from_version_3() {
        let request = |key: i16, version: i16| {
            let mut frame = vec![0, 0, 0, 8];
            frame.extend(key.to_be_bytes());
            frame.extend(version.to_be_bytes());
            frame.extend(42i32.to_be_bytes());
            frame
        };
        assert_eq!(api_versions_v3_request(&request(18, 3)), Some(42));
        assert_eq!(api_versions_v3_request(&request(18, 2)), None);
        assert_eq!(api_versions_v3_request(&request(3, 12)), None);
    }

    #[test]
    fn uvarints_round_trip() {
        for value in [0, 1, 127, 128, 300, 16_384, u64::from(u32::MAX)] {
            let mut bytes = Vec::new();
            put_uvarint(&mut bytes, value);
            assert_eq!(
                Reader {
                    bytes: &bytes,
                    at: 0
                }
                .uvarint(),
                Some(value)
            );
        }
    }
}
