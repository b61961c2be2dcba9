//! The embedded store: a redb file in the data directory. redb commits are crash-safe
//! (copy-on-write with checksummed commit slots), so a kill mid-write never corrupts it; a write
//! either committed whole or not at all.
//!
//! Records are JSON values (easy to read with any redb tool, and easy to evolve).

use std::{ops::Bound, path::Path, sync::Arc};

use async_trait::async_trait;
use events::NewPosition;
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use serde::{Serialize, de::DeserializeOwned};

use super::{Page, PageRequest, RideFilter, Store, StoreError, by_ride};
use crate::{
    ride::{PathPoint, Ride},
    route::Route,
};

/// Route id -> route.
const ROUTES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("routes");
/// Title key (see [`super::title_key`]) -> route id: keeps titles unique.
const ROUTE_TITLES: TableDefinition<'_, &str, &str> = TableDefinition::new("route_titles");
/// Ride id -> ride record.
const RIDES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("rides");
/// (ride id, seq) -> path point.
const RIDE_PATHS: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("ride_paths");

/// redb's page cache. Its default, 1 GiB, suits a database server; here the store shares a laptop
/// with the broker, and recording appends pages that are seldom read again. At 10,000 rides the
/// recorder writes as fast with 64 MiB (README, Benchmark).
const CACHE_BYTES: usize = 64 << 20;

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        // Create the tables up front so readers never meet a missing table.
        let txn = db.begin_write()?;
        txn.open_table(ROUTES)?;
        txn.open_table(ROUTE_TITLES)?;
        txn.open_table(RIDES)?;
        txn.open_table(RIDE_PATHS)?;
        txn.commit()?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Runs blocking redb work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(StoreError::Worker)?
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(|db| work(&db.begin_read()?)).await
    }

    /// Runs `work` in one write transaction, committed only if it succeeds.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_write()?;
            let result = work(&txn)?;
            txn.commit()?;
            Ok(result)
        })
        .await
    }
}

/// redb's errors, each kept whole as the store error's cause.
macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(e: $error) -> Self {
                StoreError::Embedded(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

fn encode(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        source: e.into(),
    })
}

fn get<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<T>, StoreError> {
    let value = table.get(id)?;
    value.map(|v| decode(id, v.value())).transpose()
}

/// Writes `ride` merged into the record already there, if any (requests and positions arrive in
/// either order).
fn merge_ride(
    rides: &mut redb::Table<'_, &'static str, &'static [u8]>,
    ride: Ride,
) -> Result<(), StoreError> {
    let record = match get::<Ride>(rides, &ride.id)? {
        Some(mut record) => {
            record.merge(&ride);
            record
        }
        None => ride,
    };
    rides.insert(record.id.as_str(), encode(&record).as_slice())?;
    Ok(())
}

/// Claims `route`'s title for it, refusing one another route holds.
fn claim_title(txn: &WriteTransaction, route: &Route) -> Result<(), StoreError> {
    let mut titles = txn.open_table(ROUTE_TITLES)?;
    let key = route.title_key();
    if let Some(owner) = titles.get(key.as_str())?
        && owner.value() != route.id
    {
        return Err(StoreError::DuplicateTitle(route.title.clone()));
    }
    titles.insert(key.as_str(), route.id.as_str())?;
    Ok(())
}

fn release_title(txn: &WriteTransaction, route: &Route) -> Result<(), StoreError> {
    let mut titles = txn.open_table(ROUTE_TITLES)?;
    titles.remove(route.title_key().as_str())?;
    Ok(())
}

fn put_route(txn: &WriteTransaction, route: &Route) -> Result<(), StoreError> {
    let mut routes = txn.open_table(ROUTES)?;
    routes.insert(route.id.as_str(), encode(route).as_slice())?;
    Ok(())
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn prepare(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|_| Ok(())).await
    }

    async fn list_routes(&self, page: &PageRequest) -> Result<Page<Route>, StoreError> {
        let page = page.clone();
        self.read(move |txn| {
            let table = txn.open_table(ROUTES)?;
            let lower = match &page.after {
                Some(after) => Bound::Excluded(after.as_str()),
                None => Bound::Unbounded,
            };
            let items = table
                .range::<&str>((lower, Bound::Unbounded))?
                .take(page.limit + 1)
                .map(|entry| {
                    let (key, value) = entry?;
                    decode(key.value(), value.value())
                })
                .collect::<Result<Vec<Route>, _>>()?;
            Ok(Page::from_overfetch(items, page.limit, |r| &r.id))
        })
        .await
    }

    async fn get_route(&self, id: &str) -> Result<Option<Route>, StoreError> {
        let id = id.to_owned();
        self.read(move |txn| get(&txn.open_table(ROUTES)?, &id))
            .await
    }

    async fn has_routes(&self) -> Result<bool, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(ROUTES)?;
            Ok(!table.is_empty()?)
        })
        .await
    }

    async fn insert_route(&self, route: &Route) -> Result<(), StoreError> {
        let route = route.clone();
        self.write(move |txn| {
            claim_title(txn, &route)?;
            put_route(txn, &route)
        })
        .await
    }

    async fn replace_route(&self, route: &Route) -> Result<bool, StoreError> {
        let route = route.clone();
        self.write(move |txn| {
            let old: Option<Route> = get(&txn.open_table(ROUTES)?, &route.id)?;
            let Some(old) = old else {
                return Ok(false);
            };
            release_title(txn, &old)?;
            claim_title(txn, &route)?;
            put_route(txn, &route)?;
            Ok(true)
        })
        .await
    }

    async fn delete_route(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |txn| {
            let mut routes = txn.open_table(ROUTES)?;
            let old: Option<Route> = get(&routes, &id)?;
            let Some(old) = old else {
                return Ok(false);
            };
            routes.remove(id.as_str())?;
            release_title(txn, &old)?;
            Ok(true)
        })
        .await
    }

    async fn rides_requested(&self, rides: &[Ride]) -> Result<(), StoreError> {
        let requested = rides.to_vec();
        self.write(move |txn| {
            let mut rides = txn.open_table(RIDES)?;
            for ride in requested {
                merge_ride(&mut rides, ride)?;
            }
            Ok(())
        })
        .await
    }

    async fn record_positions(&self, positions: &[NewPosition]) -> Result<(), StoreError> {
        let positions = positions.to_vec();
        self.write(move |txn| {
            let mut rides = txn.open_table(RIDES)?;
            let mut paths = txn.open_table(RIDE_PATHS)?;
            for (ride_id, group) in by_ride(&positions) {
                for p in &group {
                    // The first write of a seq wins, as with MongoDB's `_id`s: a replay or a ride
                    // driven again after a simulator crash keeps the point first recorded.
                    if paths.get((ride_id, p.seq))?.is_none() {
                        paths.insert((ride_id, p.seq), encode(&PathPoint::of(p)).as_slice())?;
                    }
                }
                merge_ride(
                    &mut rides,
                    Ride::from_positions(group).expect("groups are not empty"),
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn get_ride(&self, id: &str) -> Result<Option<Ride>, StoreError> {
        let id = id.to_owned();
        self.read(move |txn| get(&txn.open_table(RIDES)?, &id))
            .await
    }

    async fn ride_path(&self, id: &str) -> Result<Vec<PathPoint>, StoreError> {
        let id = id.to_owned();
        self.read(move |txn| {
            let paths = txn.open_table(RIDE_PATHS)?;
            paths
                .range((id.as_str(), 0)..=(id.as_str(), u64::MAX))?
                .map(|entry| {
                    let (_, value) = entry?;
                    decode(&id, value.value())
                })
                .collect()
        })
        .await
    }

    async fn list_rides(
        &self,
        filter: &RideFilter,
        page: &PageRequest,
    ) -> Result<Page<Ride>, StoreError> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |txn| {
            let table = txn.open_table(RIDES)?;
            let upper = match &page.after {
                Some(after) => Bound::Excluded(after.as_str()),
                None => Bound::Unbounded,
            };
            let mut items = Vec::new();
            // Newest first: ride ids are time-ordered.
            for entry in table.range::<&str>((Bound::Unbounded, upper))?.rev() {
                let (key, value) = entry?;
                let ride: Ride = decode(key.value(), value.value())?;
                if filter.matches(&ride) {
                    items.push(ride);
                    if items.len() > page.limit {
                        break;
                    }
                }
            }
            Ok(Page::from_overfetch(items, page.limit, |r| &r.id))
        })
        .await
    }
}
