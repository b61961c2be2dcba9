//! Abuse limits: what one caller may take of the platform. Running rides are capped for the whole
//! platform and per caller ([`rides`]), writes are rate-limited per caller ([`rate`]), WebSockets
//! per client address ([`sockets`]); request bodies and WebSocket frames have a size limit.
//!
//! Every refusal is a 429 (413 for sizes) that says which limit and what to do, and leaves
//! everything already running alone.

pub mod rate;
pub mod rides;
pub mod sockets;

use std::{sync::Arc, time::Duration};

use axum::http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::{ApiError, hub::Hub};
pub use rate::{Rate, RateLimiter};
pub use rides::{CapReached, Reservation, RideCaps};
pub use sockets::{SocketPlace, SocketsPerAddress};

/// The limits as configured; the defaults are [`LimitsConfig::default`]'s.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitsConfig {
    /// Rides running at once on the whole platform.
    pub max_running_rides: usize,
    /// Rides one caller may have running at once (per api replica).
    pub max_rides_per_caller: usize,
    /// Writes (REST requests other than GET and HEAD, WebSocket `start` frames) per caller.
    pub writes: Rate,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest WebSocket message a client may send, in bytes.
    pub max_frame_bytes: usize,
    /// WebSockets one client address may hold at once.
    pub sockets_per_address: usize,
    /// Origins besides the api's own whose pages may open its WebSocket, and in open mode write
    /// (`*`: any).
    pub allowed_origins: Vec<String>,
    /// Host names besides loopback ones that a loopback listener answers in open mode (a local
    /// proxy's name, say): any other is a page that reached it by DNS rebinding.
    pub allowed_hosts: Vec<String>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            // The size this platform is built and measured for on one machine.
            max_running_rides: 10_000,
            max_rides_per_caller: 2_000,
            writes: Rate {
                per_second: 20.0,
                burst: 100,
            },
            // Route files and GPX tracks of tens of thousands of points; a batch of 10,000 rides.
            max_body_bytes: 4 << 20,
            // Client frames are a few hundred bytes.
            max_frame_bytes: 64 << 10,
            // Tabs of one household or office behind one address.
            sockets_per_address: 64,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
        }
    }
}

impl LimitsConfig {
    /// No limit a benchmark or test could reach by accident: for measuring, not for serving.
    pub fn unlimited() -> Self {
        Self {
            max_running_rides: usize::MAX,
            max_rides_per_caller: usize::MAX,
            writes: Rate {
                per_second: 1e9,
                burst: u32::MAX,
            },
            sockets_per_address: usize::MAX,
            ..Self::default()
        }
    }
}

/// The limits in force.
pub struct Limits {
    pub config: LimitsConfig,
    pub rides: RideCaps,
    pub writes: RateLimiter,
    pub sockets: Arc<SocketsPerAddress>,
}

impl Limits {
    pub fn new(config: LimitsConfig, hub: Arc<Hub>) -> Self {
        Self {
            rides: RideCaps::new(config.max_running_rides, config.max_rides_per_caller, hub),
            writes: RateLimiter::new(config.writes),
            sockets: Arc::new(SocketsPerAddress::new(config.sockets_per_address)),
            config,
        }
    }

    /// One write of `caller`'s, or a 429 saying when to try again.
    pub fn write(&self, caller: &str) -> Result<(), ApiError> {
        self.writes.take(caller).map_err(|wait| {
            let Rate { per_second, burst } = self.config.writes;
            too_many(
                format!("too many writes: at most {per_second} a second (bursts of {burst})"),
                json!({ "limit": "writes", "perSecond": per_second, "burst": burst }),
            )
            .with_header(header::RETRY_AFTER, retry_after(wait))
        })
    }
}

impl From<CapReached> for ApiError {
    fn from(reached: CapReached) -> Self {
        let (limit, running, max) = match reached {
            CapReached::Platform { running, limit } => ("platformRides", running, limit),
            CapReached::Caller { running, limit } => ("callerRides", running, limit),
        };
        too_many(
            format!("{reached}: wait for rides to finish, or cancel some"),
            json!({ "limit": limit, "running": running, "max": max }),
        )
    }
}

fn too_many(error: String, detail: serde_json::Value) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, error).with_detail(detail)
}

/// Whole seconds, rounded up: `Retry-After` has no fractions.
pub(crate) fn retry_after(wait: Duration) -> HeaderValue {
    HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64)
}
