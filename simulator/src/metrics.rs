//! What the simulator has done so far, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use events::MemberContext;
use ops::{Exposition, Metered};

#[derive(Debug, Default)]
pub struct Metrics {
    /// Rides being driven now.
    pub rides_running: AtomicU64,
    /// Rides started since the process started, resumed ones included (a ride driven on after a
    /// failed publish counts once; one found over already, not at all).
    pub rides_started: AtomicU64,
    /// Rides taken over mid-route (after a crash or a rebalance) and driven on from their last
    /// position.
    pub rides_resumed: AtomicU64,
    /// Positions the broker acknowledged.
    pub positions_published: AtomicU64,
    /// Rides ended because the broker refuses their positions for good (too large for the topic,
    /// say): retrying could never publish them.
    pub rides_failed: AtomicU64,
    /// Commands not yet committed: queued ones and those of running rides (committed when done).
    pub lag: MemberContext,
}

impl Metered for Metrics {
    fn expose(&self, out: &mut Exposition) {
        out.gauge(
            "rota_simulator_rides_running",
            "Rides this simulator is driving now.",
            self.rides_running.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "rota_simulator_rides_started_total",
            "Rides this simulator started.",
            self.rides_started.load(Ordering::Relaxed),
        );
        out.counter(
            "rota_simulator_rides_resumed_total",
            "Rides this simulator took over mid-route and drove on from their last position.",
            self.rides_resumed.load(Ordering::Relaxed),
        );
        out.counter(
            "rota_simulator_positions_published_total",
            "Positions this simulator published and the broker acknowledged.",
            self.positions_published.load(Ordering::Relaxed),
        );
        out.counter(
            "rota_simulator_rides_failed_total",
            "Rides ended because the broker refuses their positions for good.",
            self.rides_failed.load(Ordering::Relaxed),
        );
        out.gauge(
            "rota_simulator_lag_records",
            "Ride commands not yet committed: queued, or their ride still driving.",
            self.lag.lag() as f64,
        );
    }
}
