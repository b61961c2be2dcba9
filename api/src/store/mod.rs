//! Where routes and rides live. The api talks to a [`Store`]: `rota up` uses the embedded store in
//! the data directory, and the compose and Kubernetes setups use MongoDB. Both pass the same
//! contract tests (`rota/tests/store_contract.rs`).

mod embedded;
mod mongo;
mod record;

use std::collections::HashMap;

use async_trait::async_trait;
use events::{LatLng, NewPosition};
use serde::{Deserialize, Serialize};
use simulator::motion::Polyline;

pub use embedded::EmbeddedStore;
pub use mongo::MongoStore;
pub use record::{PathPoint, RideFilter, RideRecord, RideSummary};

/// A route: an id, a title and its points (at least two). Times are milliseconds since the epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub id: String,
    pub title: String,
    pub points: Vec<LatLng>,
    /// Absent in stores written before routes could be edited.
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
}

impl Route {
    /// Titles are unique regardless of case and surrounding spaces.
    pub fn title_key(&self) -> String {
        title_key(&self.title)
    }

    /// The first and last points (stores only hold routes of at least two).
    pub fn ends(&self) -> (LatLng, LatLng) {
        (self.points[0], self.points[self.points.len() - 1])
    }

    /// Length along the points, in whole metres.
    pub fn length_m(&self) -> f64 {
        Polyline::new(self.points.clone()).length_m().round()
    }
}

pub fn title_key(title: &str) -> String {
    title.trim().to_lowercase()
}

/// One page of a listing: at most `limit` items after the cursor (an id, exclusive).
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    pub limit: usize,
    pub after: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor for the next page; `None` on the last one.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items fetched in order: the extra one only says that
    /// there is more.
    fn from_overfetch(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> &str) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next = more
            .then(|| items.last().map(|i| id(i).to_owned()))
            .flatten();
        Self { items, next }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored record {key:?} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    /// Another route already has this title.
    #[error("a route titled {0:?} already exists")]
    DuplicateTitle(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates what the store needs (MongoDB: indexes); safe to repeat.
    async fn prepare(&self) -> Result<(), StoreError>;
    /// Checks that the store answers, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Routes ordered by id.
    async fn list_routes(&self, page: &PageRequest) -> Result<Page<Route>, StoreError>;
    async fn get_route(&self, id: &str) -> Result<Option<Route>, StoreError>;
    async fn has_routes(&self) -> Result<bool, StoreError>;
    /// Adds a new route; [`StoreError::DuplicateTitle`] if its title is taken.
    async fn insert_route(&self, route: &Route) -> Result<(), StoreError>;
    /// Replaces the route with this id; `false` if there is none.
    async fn replace_route(&self, route: &Route) -> Result<bool, StoreError>;
    /// `false` if there was no such route.
    async fn delete_route(&self, id: &str) -> Result<bool, StoreError>;

    /// Records a ride that was asked for, unless positions already created it.
    async fn ride_requested(&self, ride: &RideRecord) -> Result<(), StoreError>;
    /// Appends positions (in Kafka order) to their rides' paths and updates the rides. Applying the
    /// same positions again changes nothing, so a batch can be retried or re-read from Kafka.
    async fn record_positions(&self, positions: &[NewPosition]) -> Result<(), StoreError>;
    async fn get_ride(&self, id: &str) -> Result<Option<RideRecord>, StoreError>;
    /// The ride's positions in order.
    async fn ride_path(&self, id: &str) -> Result<Vec<PathPoint>, StoreError>;
    /// Rides newest first (ride ids are time-ordered), optionally by status and route.
    async fn list_rides(
        &self,
        filter: &RideFilter,
        page: &PageRequest,
    ) -> Result<Page<RideRecord>, StoreError>;
}

/// Fills an empty store with the sample routes; a store that holds any route is left alone, so
/// routes a user deleted or changed stay that way.
pub async fn seed_if_empty(store: &dyn Store, now: i64) -> Result<usize, StoreError> {
    if store.has_routes().await? {
        return Ok(0);
    }
    let seed = simulator::route::seed_routes();
    let count = seed.len();
    for route in seed {
        let route = Route {
            id: route.id.to_owned(),
            title: route.title.to_owned(),
            points: route.points,
            created_at: now,
            updated_at: now,
        };
        match store.insert_route(&route).await {
            // Another replica seeded at the same moment.
            Ok(()) | Err(StoreError::DuplicateTitle(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(count)
}

/// Groups positions by ride, keeping each ride's positions in the order given.
fn by_ride(positions: &[NewPosition]) -> Vec<(&str, Vec<&NewPosition>)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut rides: Vec<(&str, Vec<&NewPosition>)> = Vec::new();
    for position in positions {
        let slot = *index.entry(position.ride()).or_insert_with(|| {
            rides.push((position.ride(), Vec::new()));
            rides.len() - 1
        });
        rides[slot].1.push(position);
    }
    rides
}
