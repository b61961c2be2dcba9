//! A WebSocket connection at `/ws`: reads [`ClientFrame`]s, acts on them, and writes what the hub
//! queues for the socket. The frames themselves are in [`crate::frames`].

use std::{borrow::Cow, sync::atomic::Ordering};

use axum::{
    Extension,
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
    },
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use futures::SinkExt;
use serde_json::json;

use crate::{
    SharedState,
    auth::{self, Caller},
    browser,
    error::ApiError,
    frames::{ClientFrame, ServerFrame},
    hub::Subscription,
    limits::SocketPlace,
    ride_commands,
};

/// Most frames written before one flush: a burst of queued frames costs one write, not one each.
const BURST: usize = 256;
/// What a socket reads at a time. Browsers send only small control frames (a larger one still
/// arrives whole: the buffer grows to the frame); tungstenite's default, 128 KiB allocated and
/// zeroed per socket, is 125 MiB of memory per thousand viewers.
const READ_BUFFER: usize = 4 << 10;

/// The caller is who sent the upgrade request (a token in its `Authorization` header, for clients
/// outside a browser); a `start` needs an operator. A browser's page must be from an allowed
/// origin, and one client address holds only so many sockets.
pub async fn upgrade(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let limits = &state.limits.config;
    if !browser::origin_allowed(&headers, &limits.allowed_origins) {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "a page from {} may not open this api's WebSocket (ROTA_ALLOWED_ORIGINS lists the origins \
                 that may)",
                origin.unwrap_or("an unreadable origin")
            ),
        ));
    }
    let place = state.limits.sockets.open(caller.addr).map_err(|open| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} holds {open} WebSockets, the most one address may",
                caller.addr
            ),
        )
        .with_detail(json!({ "limit": "socketsPerAddress", "max": state.limits.sockets.limit() }))
    })?;
    let max = limits.max_frame_bytes;
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(state, caller, place, socket)))
}

async fn serve(state: SharedState, caller: Caller, _place: SocketPlace, mut socket: WebSocket) {
    let mut subscription = state.hub.subscribe();
    let id = subscription.id;
    let close = loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break Some((close_code::AWAY, "server shutting down")),
            frame = subscription.recv() => match frame {
                Some(text) => if write_queued(&mut socket, &mut subscription, text).await.is_err() { break None },
                // The hub let go of this socket: it could not keep up.
                None if subscription.too_slow.load(Ordering::Relaxed) =>
                    break Some((close_code::AGAIN, "too slow: reconnect and watch again")),
                None => break None,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => handle(&state, &caller, id, &text).await,
                Some(Ok(Message::Binary(_))) => state.hub.reply(id, error_frame("frames must be JSON text")),
                Some(Err(e)) if too_big(&e) => break Some((close_code::SIZE, "frame too big")),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => {} // pings are answered by axum
            },
        }
    };
    state.hub.unsubscribe(id);
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
}

/// Whether the client sent a message over the size limit.
fn too_big(error: &axum::Error) -> bool {
    let inner = std::error::Error::source(error);
    matches!(
        inner.and_then(|e| e.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Writes `first` and the frames queued behind it (up to [`BURST`]), then flushes once.
async fn write_queued(
    socket: &mut WebSocket,
    subscription: &mut Subscription,
    first: Utf8Bytes,
) -> Result<(), axum::Error> {
    socket.feed(Message::Text(first)).await?;
    for _ in 1..BURST {
        let Some(next) = subscription.try_recv() else {
            break;
        };
        socket.feed(Message::Text(next)).await?;
    }
    socket.flush().await
}

async fn handle(state: &SharedState, caller: &Caller, id: u64, text: &str) {
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(e) => {
            return state
                .hub
                .reply(id, error_frame(&format!("invalid frame: {e}")));
        }
    };
    match frame {
        ClientFrame::Start {
            route_id,
            speed_kmh,
        } => {
            let request = ride_commands::StartRide {
                route_id,
                speed_kmh,
                client_id: None,
            };
            let started = match auth::admit_write(state, caller, "starting a ride") {
                Ok(()) => ride_commands::start(state, caller, request).await,
                Err(refused) => Err(refused),
            };
            match started {
                Ok(started) => {
                    let reply = ServerFrame::Started {
                        ride_id: started.ride_id.as_str().into(),
                        route_id: started.route_id.as_str().into(),
                    };
                    state.hub.reply(id, reply.text());
                    // Its own ride is never one not heard of: the start recorded it in the hub.
                    let _ = state.hub.watch_ride(id, &started.ride_id);
                }
                Err(e) => state.hub.reply(id, refused(e)),
            }
        }
        ClientFrame::Watch { ride_id } => {
            let watched = events::check_id(&ride_id)
                .map_err(|reason| {
                    ApiError::bad_request(format!("rideId must be {reason}"))
                        .with_detail(json!({"field": "rideId"}))
                })
                .and_then(|()| {
                    state.hub.watch_ride(id, &ride_id).map_err(|e| {
                        ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()).with_detail(
                            json!({"limit": "earlyWatches", "max": crate::hub::MAX_EARLY_WATCHES}),
                        )
                    })
                });
            if let Err(e) = watched {
                state.hub.reply(id, refused(e));
            }
        }
        ClientFrame::WatchFleet { bounds } => match bounds.and_then(|b| b.invalid()) {
            Some(problem) => state.hub.reply(id, error_frame(problem)),
            None => state.hub.watch_fleet(id, bounds),
        },
    }
}

fn error_frame(error: &str) -> Utf8Bytes {
    ServerFrame::error(error).text()
}

/// An `error` frame for a refusal the REST API would answer with `e`: its message and detail,
/// and in `detail.status` the HTTP status it would have had (a frame has none of its own).
fn refused(e: ApiError) -> Utf8Bytes {
    let status = e.status.as_u16();
    let detail = match e.detail {
        serde_json::Value::Object(mut detail) => {
            detail.insert("status".to_owned(), status.into());
            serde_json::Value::Object(detail)
        }
        _ => json!({ "status": status }),
    };
    ServerFrame::Error {
        error: e.error.into(),
        detail: Cow::Owned(detail),
    }
    .text()
}
