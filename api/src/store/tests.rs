//! The store contract, on the trait itself and without a broker: every test runs on the embedded
//! store and on MongoDB (here SecantusDB, a MongoDB wire-protocol server, through the real
//! `mongodb` driver; `scripts/test` starts it and sets `ROTA_TEST_MONGODB_URI`).

use std::{path::Path, sync::Arc};

use events::{NewPosition, RideStatus};
use routes::LatLng;

use super::{EmbeddedStore, MongoStore, PageRequest, RideFilter, Store, StoreError};
use crate::{ride::Ride, route::Route};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    Mongo,
}

macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Embedded).await
                }
            )*
        }
        mod mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Mongo).await
                }
            )*
        }
    };
}

contract!(
    routes_are_created_replaced_deleted_and_paged,
    titles_are_unique_regardless_of_case_and_spaces,
    history_survives_reopening_and_replays_change_nothing,
    a_request_recorded_after_its_positions_keeps_both,
    concurrent_writers_of_one_ride_lose_nothing,
    rides_list_newest_first_filtered_and_paged,
);

/// A place for one test's data: a temporary directory, or a database of its own on the MongoDB
/// test server, so tests never share data.
struct Place {
    backend: Backend,
    dir: tempfile::TempDir,
    uri: String,
}

impl Place {
    fn new(backend: Backend) -> Self {
        let uri = match backend {
            Backend::Embedded => String::new(),
            Backend::Mongo => {
                let server = std::env::var("ROTA_TEST_MONGODB_URI").expect(
                    "ROTA_TEST_MONGODB_URI is not set: run the suite with scripts/test, which \
                     starts a MongoDB wire-protocol server (SecantusDB) for these tests",
                );
                let database = format!("rota_test_{}", uuid::Uuid::new_v4().simple());
                format!("{}/{database}", server.trim_end_matches('/'))
            }
        };
        Self {
            backend,
            dir: tempfile::tempdir().unwrap(),
            uri,
        }
    }

    /// Opens the store as a fresh api process would.
    async fn open(&self) -> Arc<dyn Store> {
        let store: Arc<dyn Store> = match self.backend {
            Backend::Embedded => Arc::new(EmbeddedStore::open(&self.path()).unwrap()),
            Backend::Mongo => Arc::new(MongoStore::connect(&self.uri).await.unwrap()),
        };
        store.prepare().await.unwrap();
        store
    }

    fn path(&self) -> std::path::PathBuf {
        Path::new(self.dir.path()).join("store.redb")
    }
}

fn route(id: &str, title: &str) -> Route {
    let points = vec![
        LatLng::new(-15.80, -47.90).unwrap(),
        LatLng::new(-15.81, -47.91).unwrap(),
    ];
    Route {
        id: id.into(),
        title: title.into(),
        points,
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
    }
}

async fn routes_are_created_replaced_deleted_and_paged(backend: Backend) {
    let place = Place::new(backend);
    let store = place.open().await;
    assert!(!store.has_routes().await.unwrap());
    assert_eq!(super::seed_if_empty(store.as_ref(), 1).await.unwrap(), 3);
    assert_eq!(
        super::seed_if_empty(store.as_ref(), 2).await.unwrap(),
        0,
        "a store with routes is not seeded again"
    );
    for n in 0..7 {
        store
            .insert_route(&route(&format!("r{n}"), &format!("Route {n}")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut page = PageRequest {
        limit: 3,
        after: None,
    };
    loop {
        let got = store.list_routes(&page).await.unwrap();
        assert!(got.items.len() <= 3);
        seen.extend(got.items.into_iter().map(|r| r.id));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
    expected.extend((0..7).map(|n| format!("r{n}")));
    assert_eq!(seen, expected, "every route once, ordered by id");

    let mut changed = route("r1", "Renamed");
    changed.points.push(LatLng::new(-15.82, -47.91).unwrap());
    changed.updated_at = 1_700_000_001_000;
    assert!(store.replace_route(&changed).await.unwrap());
    assert_eq!(store.get_route("r1").await.unwrap(), Some(changed));
    assert!(!store.replace_route(&route("nope", "Nope")).await.unwrap());
    assert!(store.delete_route("r1").await.unwrap());
    assert!(!store.delete_route("r1").await.unwrap());
    assert_eq!(store.get_route("r1").await.unwrap(), None);

    // A new process sees the same.
    drop(store);
    let store = place.open().await;
    assert_eq!(
        store.get_route("r2").await.unwrap(),
        Some(route("r2", "Route 2"))
    );
}

async fn titles_are_unique_regardless_of_case_and_spaces(backend: Backend) {
    let place = Place::new(backend);
    let store = place.open().await;
    store.insert_route(&route("a", "Eixo")).await.unwrap();
    let taken = store.insert_route(&route("b", " eixo ")).await;
    assert!(
        matches!(taken, Err(StoreError::DuplicateTitle(ref t)) if t == " eixo "),
        "{taken:?}"
    );
    store.insert_route(&route("b", "Other")).await.unwrap();
    let taken = store.replace_route(&route("b", "EIXO")).await;
    assert!(
        matches!(taken, Err(StoreError::DuplicateTitle(_))),
        "{taken:?}"
    );
    // A route keeps its own title, and a deleted route's title is free again.
    assert!(store.replace_route(&route("a", "eixo")).await.unwrap());
    assert!(store.delete_route("a").await.unwrap());
    store.insert_route(&route("c", "Eixo")).await.unwrap();
}

fn positions(ride: &str, route: &str, from: u64, to: u64, last: u64) -> Vec<NewPosition> {
    (from..to)
        .map(|seq| NewPosition {
            route_id: route.into(),
            client_id: "c".into(),
            ride_id: ride.into(),
            position: [-47.9 - seq as f64 * 0.001, -15.8],
            finished: seq == last,
            status: Some(if seq == last {
                RideStatus::Finished
            } else {
                RideStatus::Driving
            }),
            seq,
            progress: seq as f64 / last as f64,
            distance_m: seq as f64 * 100.0,
            route_length_m: last as f64 * 100.0,
            speed_kmh: if seq == 4 { 500.0 } else { 360.0 },
            heading: 270.0,
            timestamp: 1_700_000_000_000 + seq as i64 * 1_000,
        })
        .collect()
}

const RIDE: &str = "0190c1a0-0000-7000-8000-000000000001";

/// The ride the positions 0..=10 of [`positions`] make, asked for at `requested_at`.
fn assert_whole_ride(ride: &Ride, requested_at: Option<i64>) {
    assert_eq!(ride.status, RideStatus::Finished);
    assert_eq!(ride.positions, 11);
    assert_eq!(ride.requested_at, requested_at);
    assert_eq!(ride.started_at, Some(1_700_000_000_000));
    assert_eq!(ride.finished_at, Some(1_700_000_010_000));
    assert_eq!(ride.max_speed_kmh, 500.0);
    let summary = ride.summary.expect("summarized");
    assert_eq!(
        (
            summary.distance_m,
            summary.duration_s,
            summary.average_speed_kmh
        ),
        (1000.0, 10.0, 360.0)
    );
}

async fn history_survives_reopening_and_replays_change_nothing(backend: Backend) {
    let place = Place::new(backend);
    {
        let store = place.open().await;
        store
            .rides_requested(&[Ride::requested(RIDE, "1", "c", 1_699_999_999_000)])
            .await
            .unwrap();
        store
            .record_positions(&positions(RIDE, "1", 0, 6, 10))
            .await
            .unwrap();
        // A crash after writing but before committing: the api re-reads and writes these again.
        store
            .record_positions(&positions(RIDE, "1", 3, 8, 10))
            .await
            .unwrap();
        store
            .record_positions(&positions(RIDE, "1", 8, 11, 10))
            .await
            .unwrap();
    }
    let store = place.open().await;
    let record = store.get_ride(RIDE).await.unwrap().expect("kept");
    assert_whole_ride(&record, Some(1_699_999_999_000));
    let path = store.ride_path(RIDE).await.unwrap();
    assert_eq!(
        path.iter().map(|p| p.seq).collect::<Vec<_>>(),
        (0..11).collect::<Vec<_>>()
    );
    assert_eq!(path[4].timestamp, 1_700_000_004_000);

    // Replaying old positions into a finished ride changes nothing.
    store
        .record_positions(&positions(RIDE, "1", 2, 5, 10))
        .await
        .unwrap();
    assert_eq!(store.get_ride(RIDE).await.unwrap().unwrap(), record);
    assert_eq!(store.ride_path(RIDE).await.unwrap(), path);
}

async fn a_request_recorded_after_its_positions_keeps_both(backend: Backend) {
    let place = Place::new(backend);
    let store = place.open().await;
    store
        .record_positions(&positions(RIDE, "1", 0, 11, 10))
        .await
        .unwrap();
    // One write for a batch: a ride its positions made and one not driven yet.
    const WAITING: &str = "0190c1a0-0000-7000-8000-000000000002";
    store
        .rides_requested(&[
            Ride::requested(RIDE, "1", "c", 1_699_999_999_000),
            Ride::requested(WAITING, "2", "d", 1_699_999_999_500),
        ])
        .await
        .unwrap();
    let ride = store.get_ride(RIDE).await.unwrap().unwrap();
    assert_whole_ride(&ride, Some(1_699_999_999_000));
    let waiting = store.get_ride(WAITING).await.unwrap().unwrap();
    assert_eq!(
        (waiting.status, waiting.route_id.as_str(), waiting.positions),
        (RideStatus::Starting, "2", 0)
    );
}

/// Two api replicas may record one ride at once while a rebalance moves its partition: whatever
/// the interleaving, the ride ends up as if each position was recorded once.
async fn concurrent_writers_of_one_ride_lose_nothing(backend: Backend) {
    let place = Place::new(backend);
    let a = place.open().await;
    // Two MongoDB clients; the embedded store is one process's, shared by its tasks.
    let b = match backend {
        Backend::Embedded => a.clone(),
        Backend::Mongo => place.open().await,
    };
    let all = positions(RIDE, "1", 0, 11, 10);
    let writer = |store: Arc<dyn Store>, order: Vec<usize>| {
        let all = all.clone();
        tokio::spawn(async move {
            for i in order {
                store.record_positions(&all[i..=i]).await.unwrap();
            }
            store
        })
    };
    let forward = writer(a, (0..11).collect());
    let backward = writer(b, (0..11).rev().collect());
    let (store, _) = (forward.await.unwrap(), backward.await.unwrap());
    let ride = store.get_ride(RIDE).await.unwrap().unwrap();
    assert_whole_ride(&ride, None);
    assert_eq!(store.ride_path(RIDE).await.unwrap().len(), 11);
}

async fn rides_list_newest_first_filtered_and_paged(backend: Backend) {
    let place = Place::new(backend);
    let store = place.open().await;
    // Time-ordered ids, as the api makes them; every other ride finishes, on alternating routes.
    let ids: Vec<String> = (0..6)
        .map(|n| format!("0190c1a0-0000-7000-8000-00000000000{n}"))
        .collect();
    for (n, id) in ids.iter().enumerate() {
        let route = if n % 2 == 0 { "1" } else { "2" };
        let to = if n < 3 { 11 } else { 5 };
        store
            .record_positions(&positions(id, route, 0, to, 10))
            .await
            .unwrap();
    }
    let list = |status: Option<RideStatus>, route: Option<&str>, limit: usize| {
        let filter = RideFilter {
            status,
            route_id: route.map(str::to_owned),
        };
        let store = &store;
        async move {
            let mut page = PageRequest { limit, after: None };
            let mut seen = Vec::new();
            loop {
                let got = store.list_rides(&filter, &page).await.unwrap();
                assert!(got.items.len() <= limit);
                seen.extend(got.items.into_iter().map(|r| r.id));
                match got.next {
                    Some(next) => page.after = Some(next),
                    None => return seen,
                }
            }
        }
    };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(list(None, None, 4).await, newest_first);
    assert_eq!(list(None, None, 1).await, newest_first);
    assert_eq!(
        list(Some(RideStatus::Finished), None, 2).await,
        [ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(
        list(Some(RideStatus::Driving), Some("2"), 1).await,
        [ids[5].clone(), ids[3].clone()]
    );
    assert!(list(Some(RideStatus::Cancelled), None, 5).await.is_empty());
}
