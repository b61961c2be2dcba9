//! Where routes live. The api talks to a [`RouteStore`]; `rota up` uses the embedded store in the
//! data directory, and MongoDB implements the same trait for the compose and Kubernetes setups.

mod embedded;

use async_trait::async_trait;
use events::LatLng;
use serde::{Deserialize, Serialize};

pub use embedded::EmbeddedStore;

/// A route: an id, a title and its points (at least two).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub id: String,
    pub title: String,
    pub points: Vec<LatLng>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored record {key:?} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
}

#[async_trait]
pub trait RouteStore: Send + Sync + 'static {
    /// Every route, ordered by id.
    async fn list(&self) -> Result<Vec<Route>, StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Route>, StoreError>;
    /// Inserts or replaces the route with this id.
    async fn put(&self, route: Route) -> Result<(), StoreError>;
    async fn is_empty(&self) -> Result<bool, StoreError>;
    /// Checks that the store answers, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Fills an empty store with the sample routes; a store that holds anything is left alone, so
/// routes a user deleted or changed stay that way.
pub async fn seed_if_empty(store: &dyn RouteStore) -> Result<usize, StoreError> {
    if !store.is_empty().await? {
        return Ok(0);
    }
    let seed = simulator::route::seed_routes();
    let count = seed.len();
    for route in seed {
        store
            .put(Route {
                id: route.id.to_owned(),
                title: route.title.to_owned(),
                points: route.points,
            })
            .await?;
    }
    Ok(count)
}
