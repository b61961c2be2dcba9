//! Where routes and rides live. The api talks to a [`Store`]: `rota up` uses the embedded store in
//! the data directory, and the compose and Kubernetes setups use MongoDB. Both pass the same
//! contract tests (`tests.rs`, on the trait itself, and `rota/tests/it/store_contract.rs`, through
//! the REST API).

mod embedded;
mod mongo;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use async_trait::async_trait;
use events::{NewPosition, RideStatus};

use crate::{
    ride::{PathPoint, Ride},
    route::Route,
};

pub use embedded::EmbeddedStore;
pub use mongo::MongoStore;

/// Which rides to list.
#[derive(Clone, Debug, Default)]
pub struct RideFilter {
    pub status: Option<RideStatus>,
    pub route_id: Option<String>,
}

impl RideFilter {
    pub fn matches(&self, ride: &Ride) -> bool {
        self.status.is_none_or(|s| s == ride.status)
            && self.route_id.as_ref().is_none_or(|r| *r == ride.route_id)
    }
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

/// Why a store operation failed. The cause is kept as the error's source, so logs and answers can
/// show the whole chain ([`StoreError::chain`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the embedded store {} cannot be opened", path.display())]
    Open {
        path: std::path::PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("the embedded store failed")]
    Embedded(#[source] redb::Error),
    #[error("the embedded store's worker failed")]
    Worker(#[source] tokio::task::JoinError),
    #[error("MONGODB_URI cannot be used")]
    MongoUri(#[source] mongodb::error::Error),
    #[error("MongoDB failed")]
    Mongo(#[source] mongodb::error::Error),
    #[error("MongoDB refused a write: {0}")]
    MongoRefused(String),
    /// Other writers kept changing these rides while a batch was merged into them.
    #[error("{0} rides kept changing while being written; the batch is retried")]
    Conflict(usize),
    #[error("stored record {key:?} is corrupt")]
    Corrupt {
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another route already has this title.
    #[error("a route titled {0:?} already exists")]
    DuplicateTitle(String),
}

impl StoreError {
    /// The error and each of its causes: `the embedded store failed: I/O error: …`.
    pub fn chain(&self) -> String {
        crate::error::chain(self)
    }
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

    /// Records rides that were asked for, in one write; a ride its positions already created
    /// keeps them.
    async fn rides_requested(&self, rides: &[Ride]) -> Result<(), StoreError>;
    /// Appends positions (in Kafka order) to their rides' paths and updates the rides. Applying the
    /// same positions again changes nothing, so a batch can be retried or re-read from Kafka.
    async fn record_positions(&self, positions: &[NewPosition]) -> Result<(), StoreError>;
    async fn get_ride(&self, id: &str) -> Result<Option<Ride>, StoreError>;
    /// The ride's positions in order.
    async fn ride_path(&self, id: &str) -> Result<Vec<PathPoint>, StoreError>;
    /// Rides newest first (ride ids are time-ordered), optionally by status and route.
    async fn list_rides(
        &self,
        filter: &RideFilter,
        page: &PageRequest,
    ) -> Result<Page<Ride>, StoreError>;
}

/// Fills an empty store with the sample routes; a store that holds any route is left alone, so
/// routes a user deleted or changed stay that way.
pub async fn seed_if_empty(store: &dyn Store, now: i64) -> Result<usize, StoreError> {
    if store.has_routes().await? {
        return Ok(0);
    }
    let seed = routes::sample_routes();
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
