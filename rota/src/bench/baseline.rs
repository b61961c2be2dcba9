//! The yardstick of `rota bench`: a bare tokio-tungstenite broadcaster, with no Kafka, no hub and
//! no batching. It makes up the positions of the same number of rides at the same tick and sends
//! every one, as its own `position` frame, to every client connected, writing each client's
//! queued frames with one flush. The bench measures its clients exactly as Rota's fleet watchers,
//! so the ratio of the two says what Rota's path costs against what the machine can do.

use std::{borrow::Cow, net::SocketAddr, time::Duration};

use anyhow::Result;
use api::frames::ServerFrame;
use events::{NewPosition, RideStatus};
use futures::{SinkExt, StreamExt};
use routes::LatLng;
use tokio::{net::TcpListener, sync::broadcast};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Frames a client may fall behind by before it misses some (counted as not delivered).
const BACKLOG: usize = 1 << 16;
/// Each tick's positions go out in this many slices, as rides' ticks are spread over time.
const SLICES: u32 = 10;

/// Serves the broadcast on a free port until `stop`; returns where.
pub async fn start(rides: usize, tick: Duration, stop: CancellationToken) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (frames, _) = broadcast::channel::<String>(BACKLOG);
    tokio::spawn(publish(rides, tick, frames.clone(), stop.clone()));
    tokio::spawn(async move {
        loop {
            let socket = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => socket,
                    Err(_) => continue,
                },
            };
            tokio::spawn(serve(socket, frames.subscribe(), stop.clone()));
        }
    });
    Ok(addr)
}

/// Makes up each ride's position every tick, spread over the tick in slices.
async fn publish(
    rides: usize,
    tick: Duration,
    frames: broadcast::Sender<String>,
    stop: CancellationToken,
) {
    let mut slices = tokio::time::interval(tick / SLICES);
    let per_slice = rides.div_ceil(SLICES as usize);
    let mut seq = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = slices.tick() => {}
        }
        let slice = (seq % u64::from(SLICES)) as usize;
        for ride in (slice * per_slice..rides.min((slice + 1) * per_slice)).map(|r| r.to_string()) {
            let position = NewPosition {
                route_id: "1".into(),
                client_id: ride.clone(),
                ride_id: ride,
                position: LatLng {
                    lat: -15.8,
                    lng: -47.9,
                },
                finished: false,
                status: Some(RideStatus::Driving),
                seq,
                progress: 0.5,
                distance_m: 1_000.0,
                route_length_m: 2_000.0,
                speed_kmh: 30.0,
                heading: 90.0,
                timestamp: events::now_ms(),
            };
            let frame = ServerFrame::Position(Cow::Owned(position));
            // No client yet is not an error.
            let _ = frames.send(serde_json::to_string(&frame).expect("frames serialize"));
        }
        seq += 1;
    }
}

/// One client: every frame broadcast, queued frames written together.
async fn serve(
    socket: tokio::net::TcpStream,
    mut frames: broadcast::Receiver<String>,
    stop: CancellationToken,
) {
    let Ok(socket) = tokio_tungstenite::accept_async(socket).await else {
        return;
    };
    let (mut sink, mut incoming) = socket.split();
    // What the client says is not read for meaning, only so its close is seen.
    tokio::spawn(async move { while incoming.next().await.is_some() {} });
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => break,
            frame = frames.recv() => frame,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if sink.feed(Message::text(frame)).await.is_err() {
            return;
        }
        while let Ok(frame) = frames.try_recv() {
            if sink.feed(Message::text(frame)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
