//! The MongoDB store, for the compose and Kubernetes setups. Collections `routes`, `rides` and
//! `ride_positions`; their documents are spelled out in [`documents`].
//!
//! Rides are updated by reading the ride, merging the batch into it with [`Ride::merge`] (the same
//! rules as every other view of a ride) and writing it back only if nobody wrote it in between (a
//! `revision` compare-and-set); a conflict, possible only while a rebalance moves a ride between
//! api replicas, reads and merges again. A batch costs one read and one or two writes, however many
//! rides it holds.
//!
//! The driver reconnects by itself; an operation that cannot reach a server fails after
//! [`SERVER_SELECTION_TIMEOUT`] and its caller retries (the position recorder with back-off).

mod documents;

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use events::NewPosition;
use futures::TryStreamExt;
use mongodb::{
    Client, Collection, Database, IndexModel,
    bson::{self, Document, doc},
    error::{ErrorKind, WriteFailure},
    options::{ClientOptions, IndexOptions},
};

use self::documents::{PositionDocument, RideDocument, RouteDocument};
use super::{Page, PageRequest, RideFilter, Store, StoreError, by_ride};
use crate::{
    ride::{PathPoint, Ride},
    route::Route,
};

/// How long an operation waits for a reachable server before failing (the driver's default, 30 s,
/// would hold HTTP requests far too long).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Database used when the URI names none.
const DEFAULT_DATABASE: &str = "rota";
const DUPLICATE_KEY: i32 = 11000;
/// Read-merge-write rounds before a batch gives up (and the recorder retries it later); writers
/// that collided wait a little, jittered, before reading again.
const MERGE_ATTEMPTS: usize = 20;

impl From<mongodb::error::Error> for StoreError {
    fn from(e: mongodb::error::Error) -> Self {
        StoreError::Mongo(e)
    }
}

impl From<bson::ser::Error> for StoreError {
    fn from(e: bson::ser::Error) -> Self {
        StoreError::Corrupt {
            key: "(being written)".to_owned(),
            source: e.into(),
        }
    }
}

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    routes: Collection<RouteDocument>,
    rides: Collection<RideDocument>,
    positions: Collection<PositionDocument>,
}

impl MongoStore {
    /// Parses the URI and sets the client up; the first server contact happens on first use, so
    /// the api starts (and reports "not ready") while MongoDB is still coming up.
    pub async fn connect(uri: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(StoreError::MongoUri)?;
        options.app_name.get_or_insert_with(|| "rota".to_owned());
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
        let database = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let client = Client::with_options(options).map_err(StoreError::MongoUri)?;
        let db = client.database(&database);
        Ok(Self {
            routes: db.collection("routes"),
            rides: db.collection("rides"),
            positions: db.collection("ride_positions"),
            db,
            client,
        })
    }

    /// Merges each of these views into the ride it belongs to, creating rides not stored yet.
    async fn merge_rides(&self, mut pending: Vec<Ride>) -> Result<(), StoreError> {
        let mut backoff =
            events::Backoff::new(Duration::from_millis(2), Duration::from_millis(100));
        for attempt in 0..MERGE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            let ids: Vec<&str> = pending.iter().map(|r| r.id.as_str()).collect();
            let mut stored: HashMap<String, RideDocument> = self
                .rides
                .find(doc! {"_id": {"$in": &ids}})
                .await?
                .try_collect::<Vec<_>>()
                .await?
                .into_iter()
                .map(|d| (d.id.clone(), d))
                .collect();
            let (mut updates, mut inserts, mut written) = (Vec::new(), Vec::new(), Vec::new());
            for newer in &pending {
                let revision = uuid::Uuid::new_v4().simple().to_string();
                match stored.remove(&newer.id) {
                    Some(old) => {
                        let read = old.revision.clone();
                        let mut ride = Ride::from(old);
                        ride.merge(newer);
                        let replacement =
                            bson::to_document(&RideDocument::new(&ride, revision.clone()))?;
                        // `revision: null` also matches documents written before revisions.
                        updates.push(
                            doc! {"q": {"_id": &newer.id, "revision": read}, "u": replacement},
                        );
                    }
                    None => inserts.push(bson::to_document(&RideDocument::new(
                        newer,
                        revision.clone(),
                    ))?),
                }
                written.push((newer.id.clone(), revision));
            }
            let landed = self.write(updates, inserts).await?;
            if landed == written.len() {
                return Ok(());
            }
            // Someone wrote some of these rides in between: find which, and merge them again.
            let ids: Vec<&str> = written.iter().map(|(id, _)| id.as_str()).collect();
            let revisions: HashMap<String, Option<String>> = self
                .rides
                .find(doc! {"_id": {"$in": &ids}})
                .await?
                .try_collect::<Vec<_>>()
                .await?
                .into_iter()
                .map(|d| (d.id, d.revision))
                .collect();
            pending.retain(|ride| {
                let ours = written
                    .iter()
                    .find(|(id, _)| *id == ride.id)
                    .map(|(_, r)| r);
                revisions.get(&ride.id).cloned().flatten().as_ref() != ours
            });
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Conflict(pending.len()))
    }

    /// Sends the conditional replacements and the inserts, one command each; returns how many
    /// landed. A replacement whose revision moved on, or an insert whose ride appeared meanwhile,
    /// did not.
    async fn write(
        &self,
        updates: Vec<Document>,
        inserts: Vec<Document>,
    ) -> Result<usize, StoreError> {
        let mut landed = 0;
        for (command, list, statements) in [
            ("update", "updates", updates),
            ("insert", "documents", inserts),
        ] {
            if statements.is_empty() {
                continue;
            }
            let reply = self
                .db
                .run_command(doc! {command: self.rides.name(), list: statements, "ordered": false})
                .await?;
            landed += reply_count(&reply, "n");
            write_errors(&reply)?;
        }
        Ok(landed)
    }
}

/// A count from a write command's reply (`n`), whatever integer type the server chose.
fn reply_count(reply: &Document, key: &str) -> usize {
    match reply.get(key) {
        Some(bson::Bson::Int32(n)) => *n as usize,
        Some(bson::Bson::Int64(n)) => *n as usize,
        Some(bson::Bson::Double(n)) => *n as usize,
        _ => 0,
    }
}

/// Fails on a write error other than a duplicate key (an insert that lost a race: merged again).
fn write_errors(reply: &Document) -> Result<(), StoreError> {
    let errors = reply
        .get_array("writeErrors")
        .map(Vec::as_slice)
        .unwrap_or_default();
    match errors.iter().find(|e| {
        e.as_document()
            .and_then(|e| e.get_i32("code").ok())
            .is_none_or(|code| code != DUPLICATE_KEY)
    }) {
        Some(error) => Err(StoreError::MongoRefused(error.to_string())),
        None => Ok(()),
    }
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .iter()
            .flatten()
            .any(|w| w.code == DUPLICATE_KEY),
        _ => false,
    }
}

/// Whether an `insert_many` failed only because some documents were already there.
fn only_duplicates(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        ErrorKind::InsertMany(m) => {
            m.write_concern_error.is_none()
                && m.write_errors
                    .iter()
                    .flatten()
                    .all(|w| w.code == DUPLICATE_KEY)
        }
        _ => false,
    }
}

fn route_write_error(e: mongodb::error::Error, route: &Route) -> StoreError {
    if is_duplicate_key(&e) {
        StoreError::DuplicateTitle(route.title.clone())
    } else {
        e.into()
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn prepare(&self) -> Result<(), StoreError> {
        let index = |keys: Document, name: &str, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .name(name.to_owned())
                        .unique(unique)
                        .build(),
                )
                .build()
        };
        self.routes
            .create_index(index(doc! {"titleKey": 1}, "title_unique", true))
            .await?;
        self.rides
            .create_indexes([
                index(doc! {"routeId": 1, "_id": -1}, "by_route", false),
                index(doc! {"status": 1, "_id": -1}, "by_status", false),
            ])
            .await?;
        self.positions
            .create_index(index(doc! {"rideId": 1, "seq": 1}, "by_ride", true))
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await?;
        Ok(())
    }

    async fn list_routes(&self, page: &PageRequest) -> Result<Page<Route>, StoreError> {
        let filter = match &page.after {
            Some(after) => doc! {"_id": {"$gt": after}},
            None => doc! {},
        };
        let documents: Vec<RouteDocument> = self
            .routes
            .find(filter)
            .sort(doc! {"_id": 1})
            .limit(page.limit as i64 + 1)
            .await?
            .try_collect()
            .await?;
        let items = documents.into_iter().map(Route::from).collect();
        Ok(Page::from_overfetch(items, page.limit, |r: &Route| &r.id))
    }

    async fn get_route(&self, id: &str) -> Result<Option<Route>, StoreError> {
        Ok(self
            .routes
            .find_one(doc! {"_id": id})
            .await?
            .map(Route::from))
    }

    async fn has_routes(&self) -> Result<bool, StoreError> {
        Ok(self.routes.find_one(doc! {}).await?.is_some())
    }

    async fn insert_route(&self, route: &Route) -> Result<(), StoreError> {
        self.routes
            .insert_one(RouteDocument::from(route))
            .await
            .map(drop)
            .map_err(|e| route_write_error(e, route))
    }

    async fn replace_route(&self, route: &Route) -> Result<bool, StoreError> {
        let result = self
            .routes
            .replace_one(doc! {"_id": &route.id}, RouteDocument::from(route))
            .await
            .map_err(|e| route_write_error(e, route))?;
        Ok(result.matched_count > 0)
    }

    async fn delete_route(&self, id: &str) -> Result<bool, StoreError> {
        let result = self.routes.delete_one(doc! {"_id": id}).await?;
        Ok(result.deleted_count > 0)
    }

    async fn rides_requested(&self, rides: &[Ride]) -> Result<(), StoreError> {
        self.merge_rides(rides.to_vec()).await
    }

    async fn record_positions(&self, positions: &[NewPosition]) -> Result<(), StoreError> {
        if positions.is_empty() {
            return Ok(());
        }
        // Positions first: a ride document never claims positions its path lacks.
        let documents = positions
            .iter()
            .map(|p| PositionDocument::new(p.ride(), &PathPoint::of(p)));
        match self.positions.insert_many(documents).ordered(false).await {
            Ok(_) => {}
            // Already written by an earlier attempt: the ids make a replay a no-op.
            Err(e) if only_duplicates(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let rides = by_ride(positions)
            .into_iter()
            .filter_map(|(_, group)| Ride::from_positions(group))
            .collect();
        self.merge_rides(rides).await
    }

    async fn get_ride(&self, id: &str) -> Result<Option<Ride>, StoreError> {
        Ok(self.rides.find_one(doc! {"_id": id}).await?.map(Ride::from))
    }

    async fn ride_path(&self, id: &str) -> Result<Vec<PathPoint>, StoreError> {
        let documents: Vec<PositionDocument> = self
            .positions
            .find(doc! {"rideId": id})
            .sort(doc! {"seq": 1})
            .await?
            .try_collect()
            .await?;
        Ok(documents.into_iter().map(PathPoint::from).collect())
    }

    async fn list_rides(
        &self,
        filter: &RideFilter,
        page: &PageRequest,
    ) -> Result<Page<Ride>, StoreError> {
        let mut query = Document::new();
        if let Some(status) = filter.status {
            query.insert("status", status.as_str());
        }
        if let Some(route_id) = &filter.route_id {
            query.insert("routeId", route_id);
        }
        if let Some(after) = &page.after {
            query.insert("_id", doc! {"$lt": after});
        }
        let documents: Vec<RideDocument> = self
            .rides
            .find(query)
            .sort(doc! {"_id": -1})
            .limit(page.limit as i64 + 1)
            .await?
            .try_collect()
            .await?;
        let items = documents.into_iter().map(Ride::from).collect();
        Ok(Page::from_overfetch(items, page.limit, |r: &Ride| &r.id))
    }
}
