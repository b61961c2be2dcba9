//! The WebSocket protocol at `/ws`. Every frame is a JSON object with a `type`.
//!
//! Client → server: `start` (`routeId`, optional `speedKmh`), `watch` (`rideId`), `watch-fleet`.
//! Server → client: `started`, `watching` (with the ride so far), `watching-fleet` (running rides),
//! `position`, `finished` and `error`. A malformed frame gets an `error` frame; the socket stays open.

use std::sync::atomic::Ordering;

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
    },
    response::Response,
};
use serde::Deserialize;
use serde_json::json;

use crate::{SharedState, error::ApiError, hub::Subscription, rides};

#[derive(Debug, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
enum ClientFrame {
    Start {
        route_id: String,
        speed_kmh: Option<f64>,
    },
    Watch {
        ride_id: String,
    },
    WatchFleet,
}

pub async fn upgrade(State(state): State<SharedState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(state, socket))
}

async fn serve(state: SharedState, mut socket: WebSocket) {
    let Subscription {
        id,
        mut frames,
        too_slow,
    } = state.hub.subscribe();
    let close = loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break Some((close_code::AWAY, "server shutting down")),
            frame = frames.recv() => match frame {
                Some(text) => if socket.send(Message::Text(text)).await.is_err() { break None },
                // The hub let go of this socket: it could not keep up.
                None if too_slow.load(Ordering::Relaxed) =>
                    break Some((close_code::AGAIN, "too slow: reconnect and watch again")),
                None => break None,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => handle(&state, id, &text).await,
                Some(Ok(Message::Binary(_))) => state.hub.reply(id, error_frame("frames must be JSON text")),
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

async fn handle(state: &SharedState, id: u64, text: &str) {
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
            let request = rides::StartRide {
                route_id,
                speed_kmh,
                client_id: None,
            };
            match rides::start(state, request).await {
                Ok(started) => {
                    let reply = json!({"type": "started", "rideId": started.ride_id, "routeId": started.route_id});
                    state.hub.reply(id, reply.to_string().into());
                    state.hub.watch_ride(id, &started.ride_id);
                }
                Err(ApiError { error, detail, .. }) => {
                    let reply = json!({"type": "error", "error": error, "detail": detail});
                    state.hub.reply(id, reply.to_string().into());
                }
            }
        }
        ClientFrame::Watch { ride_id } => state.hub.watch_ride(id, &ride_id),
        ClientFrame::WatchFleet => state.hub.watch_fleet(id),
    }
}

fn error_frame(error: &str) -> Utf8Bytes {
    json!({"type": "error", "error": error}).to_string().into()
}
