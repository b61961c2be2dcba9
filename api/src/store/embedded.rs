//! The embedded route store: a redb file in the data directory. redb commits are crash-safe
//! (copy-on-write with checksummed commit slots), so a kill mid-write never corrupts it.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{Route, RouteStore, StoreError};

/// Route id -> the route as JSON (readable with any redb tool, and easy to evolve).
const ROUTES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("routes");

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db =
            Database::create(path).map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
        // Create the table up front so readers never meet a missing table.
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(ROUTES).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
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
            .map_err(|e| unavailable(format!("store task failed: {e}")))?
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn read_routes(
    db: &Database,
) -> Result<redb::ReadOnlyTable<&'static str, &'static [u8]>, StoreError> {
    db.begin_read()
        .map_err(unavailable)?
        .open_table(ROUTES)
        .map_err(unavailable)
}

fn decode(key: &str, bytes: &[u8]) -> Result<Route, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

#[async_trait]
impl RouteStore for EmbeddedStore {
    async fn list(&self) -> Result<Vec<Route>, StoreError> {
        self.blocking(|db| {
            let table = read_routes(db)?;
            table
                .iter()
                .map_err(unavailable)?
                .map(|entry| {
                    let (key, value) = entry.map_err(unavailable)?;
                    decode(key.value(), value.value())
                })
                .collect()
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<Route>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let table = read_routes(db)?;
            let value = table.get(id.as_str()).map_err(unavailable)?;
            value.map(|v| decode(&id, v.value())).transpose()
        })
        .await
    }

    async fn put(&self, route: Route) -> Result<(), StoreError> {
        self.blocking(move |db| {
            let bytes = serde_json::to_vec(&route).map_err(unavailable)?;
            let txn = db.begin_write().map_err(unavailable)?;
            txn.open_table(ROUTES)
                .map_err(unavailable)?
                .insert(route.id.as_str(), bytes.as_slice())
                .map_err(unavailable)?;
            txn.commit().map_err(unavailable)
        })
        .await
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        self.blocking(|db| {
            let table = read_routes(db)?;
            table.is_empty().map_err(unavailable)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| db.begin_read().map(drop).map_err(unavailable))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::seed_if_empty;

    #[tokio::test]
    async fn seeds_once_and_keeps_routes_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        {
            let store = EmbeddedStore::open(&path).unwrap();
            assert!(store.is_empty().await.unwrap());
            assert_eq!(seed_if_empty(&store).await.unwrap(), 3);
            let mut changed = store.get("2").await.unwrap().unwrap();
            changed.title = "Renamed".into();
            store.put(changed).await.unwrap();
        }
        let store = EmbeddedStore::open(&path).unwrap();
        assert_eq!(
            seed_if_empty(&store).await.unwrap(),
            0,
            "a used store is not re-seeded"
        );
        let routes = store.list().await.unwrap();
        let ids: Vec<_> = routes.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(routes[1].title, "Renamed");
        assert_eq!(routes[0].points.len(), 219);
        assert_eq!(store.get("nope").await.unwrap(), None);
        store.ping().await.unwrap();
    }
}
