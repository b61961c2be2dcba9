//! The WebSocket hub: what every ride looks like now, and who is watching it.
//!
//! One consumer per api process feeds every position into [`Hub::broadcast_position`], which updates the ride
//! and fans a pre-serialized frame out to the sockets watching that ride or the whole fleet. Watching
//! registers the socket and takes the ride's snapshot under the same lock, so a watcher sees the path
//! so far followed by every later position, with no gap and no repeat — also after a page refresh.
//!
//! Each socket has a bounded queue. A socket whose queue is full is dropped from the hub rather than
//! slowing the others or silently missing positions: its connection is closed with a "too slow"
//! reason, and a client that reconnects and watches again gets a fresh snapshot.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use axum::extract::ws::Utf8Bytes;
use events::NewPosition;
use ops::{Exposition, Metered};
use routes::LatLng;
use tokio::sync::mpsc;

use crate::{frames::ServerFrame, ride::Ride};

/// How many finished rides are remembered for `GET /api/rides/{id}` and late watchers.
const FINISHED_RIDES_KEPT: usize = 1_000;

/// A ride as the hub holds it: its view, its path so far, and who watches it.
struct LiveRide {
    view: Ride,
    /// The path so far, for watchers who arrive mid-ride.
    path: Vec<LatLng>,
    watchers: HashSet<u64>,
    /// Where its latest position was read: (partition, offset) on `route.new-position`.
    record: Option<(i32, i64)>,
}

impl LiveRide {
    fn new(view: Ride) -> Self {
        Self {
            view,
            path: Vec::new(),
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
}

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
    pub frames: mpsc::Receiver<Utf8Bytes>,
    /// Set when the hub dropped this socket because its queue was full.
    pub too_slow: Arc<AtomicBool>,
}

struct Subscriber {
    frames: mpsc::Sender<Utf8Bytes>,
    too_slow: Arc<AtomicBool>,
    rides: HashSet<String>,
    fleet: bool,
}

#[derive(Default)]
struct State {
    rides: HashMap<String, LiveRide>,
    finished: VecDeque<String>,
    subscribers: HashMap<u64, Subscriber>,
}

pub struct Hub {
    state: Mutex<State>,
    next_id: AtomicU64,
    queue: usize,
    /// Positions received from Kafka, for `/metrics`.
    positions: AtomicU64,
}

impl Hub {
    /// `queue` is the per-socket frame queue length.
    pub fn new(queue: usize) -> Self {
        Self {
            state: Mutex::default(),
            next_id: AtomicU64::new(1),
            queue,
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
        let subscriber = Subscriber {
            frames: tx,
            too_slow: too_slow.clone(),
            rides: HashSet::new(),
            fleet: false,
        };
        self.lock().subscribers.insert(id, subscriber);
        Subscription {
            id,
            frames: rx,
            too_slow,
        }
    }

    /// The socket is gone.
    pub fn unsubscribe(&self, id: u64) {
        let mut state = self.lock();
        remove_subscriber(&mut state, id);
    }

    /// Records a ride that was just asked for, before any position exists.
    pub fn ride_requested(&self, ride: &Ride) {
        let mut state = self.lock();
        if !state.rides.contains_key(&ride.id) {
            state
                .rides
                .insert(ride.id.clone(), LiveRide::new(ride.clone()));
        }
    }

    /// Puts back a ride from the store after a restart: its record and the path recorded so far.
    /// Positions read from Kafka afterwards continue it (those already in the path are skipped).
    pub fn restore(&self, view: Ride, path: Vec<LatLng>) {
        let mut ride = LiveRide::new(view);
        ride.path = path;
        self.lock().rides.insert(ride.view.id.clone(), ride);
    }

    pub fn ride(&self, ride_id: &str) -> Option<Ride> {
        self.lock().rides.get(ride_id).map(|r| r.view.clone())
    }

    /// Starts sending `ride_id`'s positions to the socket, preceded by a `watching` frame with the
    /// ride so far (null if the hub has not heard of it yet: it may start on another replica).
    pub fn watch_ride(&self, id: u64, ride_id: &str) {
        let mut state = self.lock();
        let State {
            rides, subscribers, ..
        } = &mut *state;
        let Some(subscriber) = subscribers.get_mut(&id) else {
            return;
        };
        subscriber.rides.insert(ride_id.to_owned());
        // Not seen yet: `broadcast_position` adds this socket as a watcher when the ride appears.
        let ride = rides.get_mut(ride_id).map(|ride| {
            ride.watchers.insert(id);
            &*ride
        });
        let snapshot = ServerFrame::Watching {
            ride_id: ride_id.into(),
            ride: ride.as_ref().map(|r| Cow::Borrowed(&r.view)),
            path: Cow::Borrowed(ride.as_ref().map_or(&[], |r| &r.path)),
        }
        .text();
        send(&mut state, id, snapshot);
    }

    /// Starts sending every ride's positions to the socket, preceded by a `watching-fleet` frame
    /// listing the rides not yet finished.
    pub fn watch_fleet(&self, id: u64) {
        let mut state = self.lock();
        let Some(subscriber) = state.subscribers.get_mut(&id) else {
            return;
        };
        subscriber.fleet = true;
        let running: Vec<Cow<Ride>> = state
            .rides
            .values()
            .map(|r| Cow::Borrowed(&r.view))
            .filter(|v| !v.status.is_over())
            .collect();
        let frame = ServerFrame::WatchingFleet { rides: running }.text();
        send(&mut state, id, frame);
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
            let mut ride = LiveRide::new(Ride::new(ride_id, &event.route_id, &event.client_id));
            ride.watchers = state
                .subscribers
                .iter()
                .filter(|(_, s)| s.rides.contains(ride_id))
                .map(|(id, _)| *id)
                .collect();
            state.rides.insert(ride_id.to_owned(), ride);
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
        ride.path.push(event.lat_lng());
        ride.view.apply(event);

        let frame = ServerFrame::Position(Cow::Owned(event.for_browser())).text();
        let mut targets: Vec<u64> = ride.watchers.iter().copied().collect();
        targets.extend(
            state
                .subscribers
                .iter()
                .filter(|(_, s)| s.fleet && !s.rides.contains(ride_id))
                .map(|(id, _)| *id),
        );
        let status = event.status();
        let over_frame = status.is_over().then(|| {
            ServerFrame::Finished {
                ride_id: ride_id.into(),
                route_id: event.route_id.as_str().into(),
                status,
            }
            .text()
        });
        for id in targets {
            send(&mut state, id, frame.clone());
            if let Some(f) = &over_frame {
                send(&mut state, id, f.clone());
            }
        }
        if status.is_over() {
            state.finished.push_back(ride_id.to_owned());
            while state.finished.len() > FINISHED_RIDES_KEPT {
                if let Some(old) = state.finished.pop_front() {
                    state.rides.remove(&old);
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
            let running = state
                .rides
                .values()
                .filter(|r| !r.view.status.is_over())
                .count();
            (state.subscribers.len(), running)
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
    if subscriber.frames.try_send(frame).is_err() {
        subscriber.too_slow.store(true, Ordering::Relaxed);
        tracing::warn!(
            socket = id,
            "dropping a WebSocket client that cannot keep up"
        );
        remove_subscriber(state, id);
    }
}

fn remove_subscriber(state: &mut State, id: u64) {
    if let Some(subscriber) = state.subscribers.remove(&id) {
        for ride_id in subscriber.rides {
            if let Some(ride) = state.rides.get_mut(&ride_id) {
                ride.watchers.remove(&id);
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
        while let Ok(frame) = sub.frames.try_recv() {
            frames.push(serde_json::from_str(frame.as_str()).unwrap());
        }
        frames
    }

    #[test]
    fn a_slow_socket_is_dropped_without_costing_the_others_a_frame() {
        let hub = Hub::new(4);
        let mut fast = hub.subscribe();
        let slow = hub.subscribe();
        hub.watch_fleet(fast.id);
        hub.watch_fleet(slow.id);
        let mut received = drain(&mut fast).len();
        for seq in 0..10 {
            hub.broadcast_position(&position("r", seq, false), None);
            received += drain(&mut fast).len();
        }
        assert_eq!(
            received, 11,
            "the fast socket got the fleet snapshot and every position"
        );
        assert!(
            slow.too_slow.load(Ordering::Relaxed),
            "the slow socket is marked"
        );
        assert_eq!(hub.sockets(), 1, "and let go");
    }

    #[test]
    fn a_late_watcher_gets_the_path_then_only_new_positions() {
        let hub = Hub::new(64);
        for seq in 0..3 {
            hub.broadcast_position(&position("r", seq, false), None);
        }
        let mut late = hub.subscribe();
        hub.watch_ride(late.id, "r");
        hub.broadcast_position(&position("r", 3, true), None);
        let frames = drain(&mut late);
        assert_eq!(frames[0]["type"], "watching");
        assert_eq!(frames[0]["path"].as_array().unwrap().len(), 3);
        assert_eq!(frames[0]["ride"]["status"], "driving");
        assert_eq!(frames[1]["type"], "position");
        assert_eq!(frames[1]["seq"], 3);
        assert_eq!(frames[2]["type"], "finished");
        assert_eq!(frames.len(), 3);
        assert_eq!(hub.ride("r").unwrap().status, RideStatus::Finished);
    }

    #[test]
    fn watching_a_ride_before_its_first_position_still_delivers_it() {
        let hub = Hub::new(64);
        let mut early = hub.subscribe();
        hub.watch_ride(early.id, "later");
        hub.broadcast_position(&position("later", 0, false), None);
        let frames = drain(&mut early);
        assert_eq!(frames[0]["ride"], serde_json::Value::Null);
        assert_eq!(frames[1]["seq"], 0);
    }

    #[test]
    fn a_ride_driven_again_from_the_start_replaces_its_path() {
        let hub = Hub::new(64);
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
        hub.watch_ride(watcher.id, "r");
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
        let hub = Hub::new(64);
        let mut record = Ride::requested("r", "1", "c", 0);
        for seq in 0..3 {
            record.apply(&position("r", seq, false));
        }
        let path = (0..3)
            .map(|seq| position("r", seq, false).lat_lng())
            .collect();
        hub.restore(record, path);
        let mut fleet = hub.subscribe();
        hub.watch_fleet(fleet.id);
        for seq in 1..5 {
            hub.broadcast_position(&position("r", seq, false), None);
        }
        let seqs: Vec<_> = drain(&mut fleet)[1..]
            .iter()
            .map(|f| f["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [3, 4], "the re-read positions 1 and 2 are skipped");
        assert_eq!(hub.ride("r").unwrap().positions, 5);
    }
}
