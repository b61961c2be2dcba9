//! The WebSocket hub: what every ride looks like now, and who is watching it.
//!
//! One consumer per api process feeds every position into [`Hub::broadcast_position`], which updates
//! the ride and sends a pre-serialized `position` frame to the sockets watching that ride. Watching
//! registers the socket and takes the ride's snapshot under the same lock, so a watcher sees the
//! path so far followed by every later position, with no gap and no repeat — also after a page
//! refresh.
//!
//! Fleet watchers are served in batches instead: a position only marks its ride as moved, and every
//! [`FLEET_BATCH`] [`Hub::flush_fleet`] sends each fleet watcher one `fleet` frame with the rides
//! that moved (those in its viewport, if it gave one). So a position costs its own ride's watchers,
//! a batch costs the rides that moved times the viewport watchers, and the whole-fleet watchers
//! share one serialized frame: no work grows with sockets × positions.
//!
//! Each socket has a queue bounded in frames and in bytes. A socket whose queue is full is dropped
//! from the hub rather than slowing the others or silently missing positions: its connection is
//! closed with a "too slow" reason, and a client that reconnects and watches again gets a fresh
//! snapshot.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use events::NewPosition;
use ops::{Exposition, Metered};
use routes::LatLng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    frames::{Bounds, FleetMove, FleetOver, ServerFrame},
    ride::Ride,
};

/// How many finished rides are remembered for `GET /api/rides/{id}` and late watchers.
const FINISHED_RIDES_KEPT: usize = 1_000;

/// Most rides one socket may watch that this replica has not heard of yet (each may start on
/// another replica): a page asks for a handful; a socket asking for thousands of made-up ids would
/// grow the hub without bound.
pub const MAX_EARLY_WATCHES: usize = 64;

/// How often fleet watchers get a `fleet` frame with the rides that moved.
pub const FLEET_BATCH: Duration = Duration::from_millis(50);

/// A point of a path as the hub keeps it: latitude and longitude in units of 1e-7 degrees (about a
/// centimetre), half the size of a [`LatLng`]. Ten thousand rides of an hour hold 72 million of
/// them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CompactPoint([i32; 2]);

impl CompactPoint {
    const PER_DEGREE: f64 = 1e7;

    fn of(point: LatLng) -> Self {
        // In range: |lat| <= 90 and |lng| <= 180 degrees fit in an i32 at this scale.
        let units = |degrees: f64| (degrees * Self::PER_DEGREE).round() as i32;
        Self([units(point.lat), units(point.lng)])
    }

    fn lat_lng(self) -> LatLng {
        let [lat, lng] = self.0;
        LatLng {
            lat: f64::from(lat) / Self::PER_DEGREE,
            lng: f64::from(lng) / Self::PER_DEGREE,
        }
    }
}

/// A ride as the hub holds it: its view, its path so far, and who watches it.
struct LiveRide {
    view: Ride,
    /// The path so far, for watchers who arrive mid-ride.
    path: Vec<CompactPoint>,
    /// The latest position's seq.
    seq: u64,
    watchers: HashSet<u64>,
    /// Where its latest position was read: (partition, offset) on `route.new-position`.
    record: Option<(i32, i64)>,
}

impl LiveRide {
    fn new(view: Ride) -> Self {
        Self {
            view,
            path: Vec::new(),
            seq: 0,
            watchers: HashSet::new(),
            record: None,
        }
    }

    /// Where its latest position was read, if one was.
    fn record(&self) -> Option<RideRecord> {
        let (partition, offset) = self.record?;
        Some(RideRecord {
            ride_id: self.view.id.clone(),
            partition,
            offset,
        })
    }

    /// Its latest position as a `fleet` frame lists it, once it has one.
    fn fleet_move(&self) -> Option<FleetMove> {
        let v = &self.view;
        let at = v.position?;
        Some(FleetMove(
            v.id.clone(),
            v.route_id.clone(),
            at.lat,
            at.lng,
            v.heading,
            v.speed_kmh,
            v.progress,
            v.distance_m,
            v.route_length_m,
            self.seq,
            v.updated_at.unwrap_or_default(),
        ))
    }
}

/// A socket asked to watch more rides not heard of than [`MAX_EARLY_WATCHES`].
#[derive(Debug, PartialEq, thiserror::Error)]
#[error(
    "this socket already watches {MAX_EARLY_WATCHES} rides not heard of here; watch a ride once it has started"
)]
pub struct TooManyEarlyWatches;

/// A running ride and where its latest position is in Kafka.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RideRecord {
    /// The ride id: also its messages' key.
    pub ride_id: String,
    pub partition: i32,
    /// The latest position's offset.
    pub offset: i64,
}

/// One socket's end of the hub.
pub struct Subscription {
    pub id: u64,
    frames: mpsc::Receiver<Utf8Bytes>,
    queued: Arc<AtomicUsize>,
    /// Set when the hub dropped this socket because its queue was full.
    pub too_slow: Arc<AtomicBool>,
}

impl Subscription {
    /// The next frame to write; `None` once the hub let go of this socket.
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        let frame = self.frames.recv().await?;
        Some(self.taken(frame))
    }

    /// A frame already queued, if there is one.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let frame = self.frames.try_recv().ok()?;
        Some(self.taken(frame))
    }

    fn taken(&self, frame: Utf8Bytes) -> Utf8Bytes {
        self.queued.fetch_sub(frame.len(), Ordering::Relaxed);
        frame
    }
}

struct Subscriber {
    frames: mpsc::Sender<Utf8Bytes>,
    /// Bytes queued and not yet taken by the socket, and how many may be.
    queued: Arc<AtomicUsize>,
    queue_bytes: usize,
    too_slow: Arc<AtomicBool>,
    rides: HashSet<String>,
    /// Of `rides`, those this replica has not heard of yet (in [`State::early`]).
    early: usize,
}

/// A fleet watcher's viewport and the rides it was last told are in it.
#[derive(Default)]
struct FleetWatch {
    bounds: Option<Bounds>,
    /// With bounds: the rides in view as this watcher knows them, to say when one leaves.
    visible: HashSet<String>,
}

#[derive(Default)]
struct State {
    rides: HashMap<String, LiveRide>,
    finished: VecDeque<String>,
    subscribers: HashMap<u64, Subscriber>,
    /// Watchers of rides this replica has not heard of yet (they may start on another replica).
    early: HashMap<String, HashSet<u64>>,
    fleet: HashMap<u64, FleetWatch>,
    /// Rides that moved since the last fleet batch, and those that ended.
    moved: HashSet<String>,
    over: Vec<FleetOver>,
}

impl State {
    /// Adds a ride, with the sockets that asked for it before it existed here.
    fn insert_ride(&mut self, mut ride: LiveRide) {
        if let Some(early) = self.early.remove(&ride.view.id) {
            for id in &early {
                if let Some(subscriber) = self.subscribers.get_mut(id) {
                    subscriber.early -= 1;
                }
            }
            ride.watchers.extend(early);
        }
        self.rides.insert(ride.view.id.clone(), ride);
    }

    /// Forgets a ride, and that its watchers watch it.
    fn remove_ride(&mut self, ride_id: &str) {
        let Some(ride) = self.rides.remove(ride_id) else {
            return;
        };
        for id in ride.watchers {
            if let Some(subscriber) = self.subscribers.get_mut(&id) {
                subscriber.rides.remove(ride_id);
            }
        }
    }

    fn running(&self) -> usize {
        self.rides
            .values()
            .filter(|r| !r.view.status.is_over())
            .count()
    }
}

pub struct Hub {
    state: Mutex<State>,
    next_id: AtomicU64,
    queue: usize,
    queue_bytes: usize,
    /// Positions received from Kafka, for `/metrics`.
    positions: AtomicU64,
}

impl Hub {
    /// Each socket may have `queue` frames and `queue_bytes` bytes queued.
    pub fn new(queue: usize, queue_bytes: usize) -> Self {
        Self {
            state: Mutex::default(),
            next_id: AtomicU64::new(1),
            queue,
            queue_bytes,
            positions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new socket joins; it watches nothing yet.
    pub fn subscribe(&self) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.queue);
        let too_slow = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(AtomicUsize::new(0));
        let subscriber = Subscriber {
            frames: tx,
            queue_bytes: self.queue_bytes,
            queued: queued.clone(),
            too_slow: too_slow.clone(),
            rides: HashSet::new(),
            early: 0,
        };
        self.lock().subscribers.insert(id, subscriber);
        Subscription {
            id,
            frames: rx,
            queued,
            too_slow,
        }
    }

    /// The socket is gone.
    pub fn unsubscribe(&self, id: u64) {
        let mut state = self.lock();
        remove_subscriber(&mut state, id);
    }

    /// Records rides that were just asked for, before any position exists.
    pub fn rides_requested(&self, rides: &[Ride]) {
        let mut state = self.lock();
        for ride in rides {
            if !state.rides.contains_key(&ride.id) {
                state.insert_ride(LiveRide::new(ride.clone()));
            }
        }
    }

    /// Puts back a ride from the store after a restart: its record and the path recorded so far.
    /// Positions read from Kafka afterwards continue it (those already in the path are skipped).
    pub fn restore(&self, view: Ride, path: Vec<LatLng>) {
        let mut ride = LiveRide::new(view);
        ride.seq = path.len().saturating_sub(1) as u64;
        ride.path = path.into_iter().map(CompactPoint::of).collect();
        self.lock().insert_ride(ride);
    }

    /// Rides asked for or driving, not over: on every replica, as each sees every position.
    pub fn running_rides(&self) -> usize {
        self.lock().running()
    }

    pub fn ride(&self, ride_id: &str) -> Option<Ride> {
        self.lock().rides.get(ride_id).map(|r| r.view.clone())
    }

    /// Starts sending `ride_id`'s positions to the socket, preceded by a `watching` frame with the
    /// ride so far (null if the hub has not heard of it yet: it may start on another replica). A
    /// socket already watching [`MAX_EARLY_WATCHES`] rides not heard of is refused another.
    pub fn watch_ride(&self, id: u64, ride_id: &str) -> Result<(), TooManyEarlyWatches> {
        let mut state = self.lock();
        let State {
            rides,
            subscribers,
            early,
            ..
        } = &mut *state;
        let Some(subscriber) = subscribers.get_mut(&id) else {
            return Ok(());
        };
        let ride = match rides.get_mut(ride_id) {
            Some(ride) => {
                ride.watchers.insert(id);
                Some(&*ride)
            }
            None if subscriber.rides.contains(ride_id) => None,
            None if subscriber.early >= MAX_EARLY_WATCHES => return Err(TooManyEarlyWatches),
            None => {
                early.entry(ride_id.to_owned()).or_default().insert(id);
                subscriber.early += 1;
                None
            }
        };
        subscriber.rides.insert(ride_id.to_owned());
        let snapshot = ServerFrame::Watching {
            ride_id: ride_id.into(),
            ride: ride.as_ref().map(|r| Cow::Borrowed(&r.view)),
            path: Cow::Owned(
                ride.as_ref()
                    .map_or(Vec::new(), |r| r.path.iter().map(|p| p.lat_lng()).collect()),
            ),
        }
        .text();
        send(&mut state, id, snapshot);
        Ok(())
    }

    /// Makes the socket a fleet watcher of the rides in `bounds` (all, without), or moves its
    /// viewport: a full `fleet` frame now, batches with the rides that moved from the next
    /// [`Hub::flush_fleet`] on.
    pub fn watch_fleet(&self, id: u64, bounds: Option<Bounds>) {
        let mut state = self.lock();
        if !state.subscribers.contains_key(&id) {
            return;
        }
        let running = state.running();
        let State { rides, fleet, .. } = &mut *state;
        let moved: Vec<FleetMove> = rides
            .values()
            .filter(|r| !r.view.status.is_over())
            .filter_map(LiveRide::fleet_move)
            .filter(|m| bounds.is_none_or(|b| b.contains(m.lat_lng())))
            .collect();
        let watch = fleet.entry(id).or_default();
        watch.bounds = bounds;
        watch.visible = match bounds {
            Some(_) => moved.iter().map(|m| m.ride_id().to_owned()).collect(),
            None => HashSet::new(),
        };
        let frame = ServerFrame::Fleet {
            full: true,
            running,
            in_view: moved.len(),
            moved: Cow::Owned(moved),
            left: Cow::Borrowed(&[]),
            over: Cow::Borrowed(&[]),
        }
        .text();
        send(&mut state, id, frame);
    }

    /// Sends each fleet watcher the rides that moved since the last call (and those that left its
    /// viewport or ended), one `fleet` frame each; nothing to whom nothing changed.
    pub fn flush_fleet(&self) {
        let mut state = self.lock();
        let moved = std::mem::take(&mut state.moved);
        let over = std::mem::take(&mut state.over);
        if state.fleet.is_empty() || (moved.is_empty() && over.is_empty()) {
            return;
        }
        let moved: Vec<FleetMove> = moved
            .iter()
            .filter_map(|id| state.rides.get(id)?.fleet_move())
            .collect();
        let running = state.running();
        let mut whole_fleet = None;
        let mut frames = Vec::with_capacity(state.fleet.len());
        for (&id, watch) in &mut state.fleet {
            let Some(bounds) = watch.bounds else {
                // Every whole-fleet watcher gets the same frame: serialize it once.
                let frame = whole_fleet.get_or_insert_with(|| {
                    ServerFrame::Fleet {
                        full: false,
                        running,
                        in_view: running,
                        moved: Cow::Borrowed(&moved),
                        left: Cow::Borrowed(&[]),
                        over: Cow::Borrowed(&over),
                    }
                    .text()
                });
                frames.push((id, frame.clone()));
                continue;
            };
            let mut in_view = Vec::new();
            let mut left = Vec::new();
            for m in &moved {
                if bounds.contains(m.lat_lng()) {
                    watch.visible.insert(m.ride_id().to_owned());
                    in_view.push(m.clone());
                } else if watch.visible.remove(m.ride_id()) {
                    left.push(m.ride_id().to_owned());
                }
            }
            let over: Vec<FleetOver> = over
                .iter()
                .filter(|o| watch.visible.remove(&o.ride_id))
                .cloned()
                .collect();
            if in_view.is_empty() && left.is_empty() && over.is_empty() {
                continue;
            }
            let frame = ServerFrame::Fleet {
                full: false,
                running,
                in_view: watch.visible.len(),
                moved: Cow::Owned(in_view),
                left: Cow::Owned(left),
                over: Cow::Owned(over),
            };
            frames.push((id, frame.text()));
        }
        for (id, frame) in frames {
            send(&mut state, id, frame);
        }
    }

    /// Calls [`Hub::flush_fleet`] every `every` until `shutdown`.
    pub async fn batch_fleet(&self, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => self.flush_fleet(),
            }
        }
    }

    /// Queues a frame for one socket (replies to its own requests).
    pub fn reply(&self, id: u64, frame: Utf8Bytes) {
        send(&mut self.lock(), id, frame);
    }

    /// Applies a position from Kafka, read at `record` (partition, offset), and fans it out.
    pub fn broadcast_position(&self, event: &NewPosition, record: Option<(i32, i64)>) {
        self.positions.fetch_add(1, Ordering::Relaxed);
        let ride_id = event.ride();
        let mut state = self.lock();
        if !state.rides.contains_key(ride_id) {
            // Sockets may watch a ride before its first position reaches this replica.
            let ride = LiveRide::new(Ride::new(ride_id, &event.route_id, &event.client_id));
            state.insert_ride(ride);
        }
        let Some(ride) = state.rides.get_mut(ride_id) else {
            return;
        };
        ride.record = record.or(ride.record);
        let seq = event.seq as usize;
        let newer = ride.view.updated_at.is_none_or(|t| event.timestamp > t);
        if seq < ride.path.len() {
            if seq == 0 && newer {
                // The simulator drives the ride again from its start (it was restarted).
                ride.path.clear();
            } else {
                // Already here: restored from the store, or read twice after a restart.
                return;
            }
        }
        ride.path.push(CompactPoint::of(event.lat_lng()));
        ride.seq = event.seq;
        ride.view.apply(event);

        let status = event.status();
        let watchers: Vec<u64> = ride.watchers.iter().copied().collect();
        if !watchers.is_empty() {
            let frame = ServerFrame::Position(Cow::Owned(event.for_browser())).text();
            let over_frame = status.is_over().then(|| {
                ServerFrame::Finished {
                    ride_id: ride_id.into(),
                    route_id: event.route_id.as_str().into(),
                    status,
                }
                .text()
            });
            for id in watchers {
                send(&mut state, id, frame.clone());
                if let Some(f) = &over_frame {
                    send(&mut state, id, f.clone());
                }
            }
        }
        if !state.fleet.is_empty() {
            state.moved.insert(ride_id.to_owned());
            if status.is_over() {
                state.over.push(FleetOver {
                    ride_id: ride_id.to_owned(),
                    route_id: event.route_id.clone(),
                    status,
                });
            }
        }
        if status.is_over() {
            state.finished.push_back(ride_id.to_owned());
            while state.finished.len() > FINISHED_RIDES_KEPT {
                if let Some(old) = state.finished.pop_front() {
                    state.remove_ride(&old);
                }
            }
        }
    }

    /// Sockets connected now.
    pub fn sockets(&self) -> usize {
        self.lock().subscribers.len()
    }

    /// Positions received from Kafka so far.
    pub fn positions_received(&self) -> u64 {
        self.positions.load(Ordering::Relaxed)
    }

    /// Where each running ride's latest position was read, by ride id.
    pub fn ride_records(&self) -> Vec<RideRecord> {
        let state = self.lock();
        let mut records: Vec<RideRecord> = state
            .rides
            .values()
            .filter(|r| !r.view.status.is_over())
            .filter_map(LiveRide::record)
            .collect();
        records.sort_by(|a, b| a.ride_id.cmp(&b.ride_id));
        records
    }

    /// Where `ride_id`'s latest position was read, running or not.
    pub fn ride_record(&self, ride_id: &str) -> Option<RideRecord> {
        self.lock().rides.get(ride_id)?.record()
    }
}

impl Metered for Hub {
    fn expose(&self, out: &mut Exposition) {
        let (sockets, running) = {
            let state = self.lock();
            (state.subscribers.len(), state.running())
        };
        out.gauge(
            "rota_websocket_clients",
            "WebSocket clients connected.",
            sockets as f64,
        );
        out.gauge(
            "rota_rides_running",
            "Rides not over yet, as this api process sees them.",
            running as f64,
        );
        out.counter(
            "rota_positions_total",
            "Positions this api process received from Kafka.",
            self.positions_received(),
        );
    }
}

/// Queues a frame; a socket whose queue is full is dropped (see the module docs).
fn send(state: &mut State, id: u64, frame: Utf8Bytes) {
    let Some(subscriber) = state.subscribers.get(&id) else {
        return;
    };
    let queued = subscriber.queued.fetch_add(frame.len(), Ordering::Relaxed) + frame.len();
    if queued > subscriber.queue_bytes || subscriber.frames.try_send(frame).is_err() {
        subscriber.too_slow.store(true, Ordering::Relaxed);
        tracing::warn!(
            socket = id,
            "dropping a WebSocket client that cannot keep up"
        );
        remove_subscriber(state, id);
    }
}

fn remove_subscriber(state: &mut State, id: u64) {
    state.fleet.remove(&id);
    if let Some(subscriber) = state.subscribers.remove(&id) {
        for ride_id in subscriber.rides {
            if let Some(ride) = state.rides.get_mut(&ride_id) {
                ride.watchers.remove(&id);
            } else if let Some(early) = state.early.get_mut(&ride_id) {
                early.remove(&id);
                if early.is_empty() {
                    state.early.remove(&ride_id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::RideStatus;

    fn position(ride: &str, seq: u64, finished: bool) -> NewPosition {
        NewPosition {
            route_id: "1".into(),
            client_id: "c".into(),
            ride_id: ride.into(),
            position: [-47.9, -15.8 - seq as f64 * 0.001],
            finished,
            status: None,
            seq,
            progress: 0.0,
            distance_m: 0.0,
            route_length_m: 0.0,
            speed_kmh: 30.0,
            heading: 0.0,
            timestamp: seq as i64,
        }
    }

    fn drain(sub: &mut Subscription) -> Vec<serde_json::Value> {
        let mut frames = Vec::new();
        while let Some(frame) = sub.try_recv() {
            frames.push(serde_json::from_str(frame.as_str()).unwrap());
        }
        frames
    }

    #[test]
    fn a_slow_socket_is_dropped_without_costing_the_others_a_frame() {
        let hub = Hub::new(4, 1 << 20);
        let mut fast = hub.subscribe();
        let slow = hub.subscribe();
        let mut fleet = hub.subscribe();
        let slow_fleet = hub.subscribe();
        hub.watch_ride(fast.id, "r").unwrap();
        hub.watch_ride(slow.id, "r").unwrap();
        hub.watch_fleet(fleet.id, None);
        hub.watch_fleet(slow_fleet.id, None);
        let mut received = drain(&mut fast).len();
        let mut batches = drain(&mut fleet).len();
        for seq in 0..10 {
            hub.broadcast_position(&position("r", seq, false), None);
            hub.flush_fleet();
            received += drain(&mut fast).len();
            batches += drain(&mut fleet).len();
        }
        assert_eq!(
            received, 11,
            "the fast socket got the ride's snapshot and every position"
        );
        assert_eq!(batches, 11, "the fast fleet socket got all 10 batches");
        for socket in [&slow, &slow_fleet] {
            assert!(
                socket.too_slow.load(Ordering::Relaxed),
                "a slow socket is marked"
            );
        }
        assert_eq!(hub.sockets(), 2, "and let go");
    }

    #[test]
    fn a_socket_with_too_many_bytes_queued_is_dropped() {
        let hub = Hub::new(1_000, 2_000);
        let mut fast = hub.subscribe();
        let slow = hub.subscribe();
        hub.watch_ride(fast.id, "r").unwrap();
        hub.watch_ride(slow.id, "r").unwrap();
        let mut received = 0;
        for seq in 0..20 {
            hub.broadcast_position(&position("r", seq, false), None);
            received += drain(&mut fast).len();
        }
        assert_eq!(received, 21, "frames taken as they come never add up");
        assert!(slow.too_slow.load(Ordering::Relaxed));
        assert_eq!(hub.sockets(), 1);
    }

    /// The rides of a `fleet` frame by id: (seq, lat) of each, and the frame's `left` and `over`.
    fn fleet_frame(frame: &serde_json::Value) -> (Vec<(String, u64)>, Vec<String>, Vec<String>) {
        assert_eq!(frame["type"], "fleet", "{frame}");
        let moved = frame["moved"].as_array().unwrap().iter().map(|m| {
            let m: FleetMove = serde_json::from_value(m.clone()).unwrap();
            (m.ride_id().to_owned(), m.seq())
        });
        let ids = |key: &str, field: Option<&str>| -> Vec<String> {
            frame[key].as_array().map_or(Vec::new(), |items| {
                items
                    .iter()
                    .map(|v| field.map_or(v, |f| &v[f]).as_str().unwrap().to_owned())
                    .collect()
            })
        };
        let mut moved: Vec<_> = moved.collect();
        moved.sort();
        (moved, ids("left", None), ids("over", Some("rideId")))
    }

    #[test]
    fn batched_fleet_frames_carry_every_moved_ride_once_at_its_latest_position() {
        let hub = Hub::new(64, 1 << 20);
        hub.broadcast_position(&position("quiet", 0, false), None);
        let mut fleet = hub.subscribe();
        hub.watch_fleet(fleet.id, None);
        let full = drain(&mut fleet);
        assert_eq!(
            (full[0]["full"].as_bool(), full[0]["running"].as_u64()),
            (Some(true), Some(1))
        );
        assert_eq!(fleet_frame(&full[0]).0, [("quiet".to_owned(), 0)]);

        for seq in 0..3 {
            hub.broadcast_position(&position("a", seq, false), None);
        }
        hub.broadcast_position(&position("b", 0, false), None);
        hub.flush_fleet();
        let frames = drain(&mut fleet);
        assert_eq!(frames.len(), 1, "one frame per batch");
        assert_eq!(frames[0]["full"], false);
        assert_eq!(frames[0]["running"], 3);
        assert_eq!(
            fleet_frame(&frames[0]),
            (
                vec![("a".to_owned(), 2), ("b".to_owned(), 0)],
                vec![],
                vec![]
            ),
            "each ride that moved once, at its latest position; the quiet one not at all"
        );

        hub.flush_fleet();
        assert!(drain(&mut fleet).is_empty(), "nothing moved, nothing sent");

        hub.broadcast_position(&position("b", 1, true), None);
        hub.flush_fleet();
        let frames = drain(&mut fleet);
        assert_eq!(
            fleet_frame(&frames[0]),
            (vec![("b".to_owned(), 1)], vec![], vec!["b".to_owned()]),
            "a ride's last position and its end in one frame"
        );
        assert_eq!(frames[0]["over"][0]["status"], "finished");
        assert_eq!(frames[0]["running"], 2);
    }

    #[test]
    fn a_fleet_entry_holds_the_position_frames_fields_in_the_documented_order() {
        let hub = Hub::new(64, 1 << 20);
        let event = NewPosition {
            progress: 0.25,
            distance_m: 120.0,
            route_length_m: 480.0,
            heading: 45.0,
            speed_kmh: 33.0,
            timestamp: 1_234,
            ..position("r", 0, false)
        };
        hub.broadcast_position(&event, None);
        let mut fleet = hub.subscribe();
        hub.watch_fleet(fleet.id, None);
        let frames = drain(&mut fleet);
        let entry = &frames[0]["moved"][0];
        let frame = serde_json::to_value(ServerFrame::Position(Cow::Owned(event.for_browser())));
        let frame = frame.unwrap();
        for (i, (name, _)) in FleetMove::FIELDS.iter().enumerate() {
            let expected = match *name {
                "lat" | "lng" => &frame["position"][name],
                _ => &frame[name],
            };
            assert_eq!(&entry[i], expected, "{name}");
        }
    }

    #[test]
    fn a_viewport_gets_the_rides_entering_and_leaving_it() {
        let hub = Hub::new(64, 1 << 20);
        let at = |ride: &str, seq: u64, lat: f64| NewPosition {
            position: [-47.9, lat],
            ..position(ride, seq, false)
        };
        hub.broadcast_position(&at("inside", 0, -15.80), None);
        hub.broadcast_position(&at("outside", 0, -10.0), None);
        let mut viewer = hub.subscribe();
        let bounds = Bounds {
            south: -16.0,
            west: -48.0,
            north: -15.0,
            east: -47.0,
        };
        hub.watch_fleet(viewer.id, Some(bounds));
        let full = drain(&mut viewer);
        assert_eq!(fleet_frame(&full[0]).0, [("inside".to_owned(), 0)]);
        assert_eq!(
            (full[0]["running"].as_u64(), full[0]["inView"].as_u64()),
            (Some(2), Some(1))
        );

        // `outside` drives into the box, `inside` out of it.
        hub.broadcast_position(&at("outside", 1, -15.5), None);
        hub.broadcast_position(&at("inside", 1, -17.0), None);
        hub.flush_fleet();
        let frames = drain(&mut viewer);
        assert_eq!(
            fleet_frame(&frames[0]),
            (
                vec![("outside".to_owned(), 1)],
                vec!["inside".to_owned()],
                vec![]
            )
        );
        assert_eq!(frames[0]["inView"], 1);

        // Moving outside the box again and again says nothing more.
        hub.broadcast_position(&at("inside", 2, -17.5), None);
        hub.flush_fleet();
        assert!(drain(&mut viewer).is_empty());

        // The map pans: a new full frame for the new box.
        hub.watch_fleet(
            viewer.id,
            Some(Bounds {
                south: -18.0,
                north: -17.0,
                ..bounds
            }),
        );
        assert_eq!(
            fleet_frame(&drain(&mut viewer)[0]).0,
            [("inside".to_owned(), 2)]
        );
    }

    #[test]
    fn a_socket_watching_the_fleet_and_a_ride_gets_each_of_the_rides_positions() {
        let hub = Hub::new(64, 1 << 20);
        let mut both = hub.subscribe();
        hub.watch_fleet(both.id, None);
        hub.watch_ride(both.id, "r").unwrap();
        for seq in 0..5 {
            hub.broadcast_position(&position("r", seq, false), None);
        }
        hub.flush_fleet();
        let frames = drain(&mut both);
        let seqs: Vec<_> = frames
            .iter()
            .filter(|f| f["type"] == "position")
            .map(|f| f["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4], "every seq, in order");
        assert_eq!(frames.last().unwrap()["type"], "fleet");
        hub.unsubscribe(both.id);
        assert_eq!(hub.sockets(), 0);
        hub.broadcast_position(&position("r", 5, false), None);
        hub.flush_fleet();
    }

    #[test]
    fn a_late_watcher_gets_the_path_then_only_new_positions() {
        let hub = Hub::new(64, 1 << 20);
        for seq in 0..3 {
            hub.broadcast_position(&position("r", seq, false), None);
        }
        let mut late = hub.subscribe();
        hub.watch_ride(late.id, "r").unwrap();
        hub.broadcast_position(&position("r", 3, true), None);
        let frames = drain(&mut late);
        assert_eq!(frames[0]["type"], "watching");
        let path = frames[0]["path"].as_array().unwrap();
        assert_eq!(path.len(), 3);
        // Kept compact, given back within a centimetre of where each position was.
        for (seq, point) in path.iter().enumerate() {
            let [lng, lat] = position("r", seq as u64, false).position;
            let lat_off = (point["lat"].as_f64().unwrap() - lat).abs();
            let lng_off = (point["lng"].as_f64().unwrap() - lng).abs();
            assert!(
                lat_off < 1e-7 && lng_off < 1e-7,
                "{point} against {lat}, {lng}"
            );
        }
        assert_eq!(frames[0]["ride"]["status"], "driving");
        assert_eq!(frames[1]["type"], "position");
        assert_eq!(frames[1]["seq"], 3);
        assert_eq!(frames[2]["type"], "finished");
        assert_eq!(frames.len(), 3);
        assert_eq!(hub.ride("r").unwrap().status, RideStatus::Finished);
    }

    #[test]
    fn compact_path_points_cover_the_globe_to_a_centimetre() {
        for (lat, lng) in [
            (90.0, 180.0),
            (-90.0, -180.0),
            (0.0, 0.0),
            (-15.793_889_9, -47.882_778_1),
        ] {
            let back = CompactPoint::of(LatLng { lat, lng }).lat_lng();
            assert!(
                (back.lat - lat).abs() <= 5e-8 && (back.lng - lng).abs() <= 5e-8,
                "{lat}, {lng} came back as {back:?}"
            );
        }
    }

    #[test]
    fn watching_a_ride_before_its_first_position_still_delivers_it() {
        let hub = Hub::new(64, 1 << 20);
        let mut early = hub.subscribe();
        hub.watch_ride(early.id, "later").unwrap();
        hub.broadcast_position(&position("later", 0, false), None);
        let frames = drain(&mut early);
        assert_eq!(frames[0]["ride"], serde_json::Value::Null);
        assert_eq!(frames[1]["seq"], 0);
    }

    #[test]
    fn a_socket_watches_a_bounded_number_of_rides_not_heard_of() {
        let hub = Hub::new(1024, 1 << 20);
        let socket = hub.subscribe();
        for i in 0..MAX_EARLY_WATCHES {
            hub.watch_ride(socket.id, &format!("unknown-{i}")).unwrap();
        }
        assert_eq!(
            hub.watch_ride(socket.id, "one-more"),
            Err(TooManyEarlyWatches)
        );
        hub.watch_ride(socket.id, "unknown-0")
            .expect("asking again for one it watches takes no more room");
        // One of them starts: it is a ride like any other now, and frees a place.
        hub.broadcast_position(&position("unknown-0", 0, false), None);
        hub.watch_ride(socket.id, "one-more").unwrap();
        // Rides that exist take no early place, however many.
        for i in 0..2 * MAX_EARLY_WATCHES {
            hub.broadcast_position(&position(&format!("known-{i}"), 0, false), None);
            hub.watch_ride(socket.id, &format!("known-{i}")).unwrap();
        }
        assert_eq!(hub.lock().early.len(), MAX_EARLY_WATCHES);
        hub.unsubscribe(socket.id);
        assert!(hub.lock().early.is_empty(), "a closed socket's are let go");
    }

    #[test]
    fn a_ride_forgotten_is_no_longer_among_its_watchers_rides() {
        let hub = Hub::new(4096, 1 << 30);
        let socket = hub.subscribe();
        hub.broadcast_position(&position("first", 0, true), None);
        hub.watch_ride(socket.id, "first").unwrap();
        for i in 0..FINISHED_RIDES_KEPT {
            hub.broadcast_position(&position(&format!("r{i}"), 0, true), None);
        }
        assert!(
            hub.ride("first").is_none(),
            "the oldest finished ride is forgotten"
        );
        assert!(hub.lock().subscribers[&socket.id].rides.is_empty());
    }

    #[test]
    fn a_ride_driven_again_from_the_start_replaces_its_path() {
        let hub = Hub::new(64, 1 << 20);
        for (at, seq) in [0, 1, 2, 0, 1].into_iter().enumerate() {
            hub.broadcast_position(
                &NewPosition {
                    timestamp: at as i64,
                    ..position("r", seq, false)
                },
                Some((2, 10 + at as i64)),
            );
        }
        let mut watcher = hub.subscribe();
        hub.watch_ride(watcher.id, "r").unwrap();
        let frames = drain(&mut watcher);
        assert_eq!(frames[0]["path"].as_array().unwrap().len(), 2);
        let latest = RideRecord {
            ride_id: "r".to_owned(),
            partition: 2,
            offset: 14,
        };
        assert_eq!(hub.ride_record("r"), Some(latest.clone()));
        assert_eq!(hub.ride_records(), vec![latest]);
    }

    #[test]
    fn positions_already_restored_are_not_sent_twice() {
        let hub = Hub::new(64, 1 << 20);
        let mut record = Ride::requested("r", "1", "c", 0);
        for seq in 0..3 {
            record.apply(&position("r", seq, false));
        }
        let path = (0..3)
            .map(|seq| position("r", seq, false).lat_lng())
            .collect();
        hub.restore(record, path);
        let mut watcher = hub.subscribe();
        hub.watch_ride(watcher.id, "r").unwrap();
        for seq in 1..5 {
            hub.broadcast_position(&position("r", seq, false), None);
        }
        let seqs: Vec<_> = drain(&mut watcher)[1..]
            .iter()
            .map(|f| f["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [3, 4], "the re-read positions 1 and 2 are skipped");
        assert_eq!(hub.ride("r").unwrap().positions, 5);
    }
}
