//! The MongoDB store, for the compose and Kubernetes setups.
//!
//! Documents are shaped for people who open the database in mongosh or Compass: camelCase field
//! names, dates as BSON dates, points as `{lat, lng}`. Collections:
//!
//! - `routes`: `_id`, `title`, `titleKey` (lowercased title, unique index), `points`,
//!   `startPosition`, `endPosition`, `lengthM`, `createdAt`, `updatedAt`;
//! - `rides`: `_id`, `routeId`, `clientId`, `status`, `requestedAt`, `startedAt`, `updatedAt`,
//!   `finishedAt`, `position`, `progress`, `distanceM`, `routeLengthM`, `speedKmh`, `maxSpeedKmh`,
//!   `heading`, `positions`, and `summary` once the ride is over (indexed by route and by status);
//! - `ride_positions`: one document per position, `_id` `"<rideId>:<seq>"`, so writing one twice
//!   is a no-op (indexed by `rideId`, `seq`).
//!
//! The driver reconnects by itself; an operation that cannot reach a server fails after
//! [`SERVER_SELECTION_TIMEOUT`] and its caller retries (the position recorder with back-off).

use std::time::Duration;

use async_trait::async_trait;
use events::NewPosition;
use futures::TryStreamExt;
use mongodb::{
    Client, Collection, Database, IndexModel,
    bson::{self, Bson, DateTime, Document, doc},
    error::{ErrorKind, WriteFailure},
    options::{ClientOptions, IndexOptions},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    Page, PageRequest, PathPoint, RideFilter, RideRecord, Route, Store, StoreError, by_ride,
};

/// How long an operation waits for a reachable server before failing (the driver's default, 30 s,
/// would hold HTTP requests far too long).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Database used when the URI names none.
const DEFAULT_DATABASE: &str = "rota";
const DUPLICATE_KEY: i32 = 11000;

const ROUTE_TIMES: &[&str] = &["createdAt", "updatedAt"];
const RIDE_TIMES: &[&str] = &["requestedAt", "startedAt", "updatedAt", "finishedAt"];
const POSITION_TIMES: &[&str] = &["timestamp"];

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    routes: Collection<Document>,
    rides: Collection<Document>,
    positions: Collection<Document>,
}

impl MongoStore {
    /// Parses the URI and sets the client up; the first server contact happens on first use, so
    /// the api starts (and reports "not ready") while MongoDB is still coming up.
    pub async fn connect(uri: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Unavailable(format!("MONGODB_URI: {e}")))?;
        options.app_name.get_or_insert_with(|| "rota".to_owned());
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
        let database = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let client = Client::with_options(options).map_err(unavailable)?;
        let db = client.database(&database);
        Ok(Self {
            routes: db.collection("routes"),
            rides: db.collection("rides"),
            positions: db.collection("ride_positions"),
            db,
            client,
        })
    }

    /// Runs one `update` command on `rides` holding many statements: one round trip for a whole
    /// batch, on every MongoDB version. Upserts that collide with an existing `_id` (see
    /// [`ride_update`]) are expected and ignored; any other write error fails the call.
    async fn update_rides(&self, updates: Vec<Document>) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let command = doc! {"update": self.rides.name(), "updates": updates, "ordered": false};
        let reply = self.db.run_command(command).await.map_err(unavailable)?;
        let errors = reply
            .get_array("writeErrors")
            .map(Vec::as_slice)
            .unwrap_or_default();
        match errors.iter().find(|e| {
            e.as_document()
                .and_then(|e| e.get_i32("code").ok())
                .is_none_or(|code| code != DUPLICATE_KEY)
        }) {
            Some(error) => Err(unavailable(format!("updating rides: {error}"))),
            None => Ok(()),
        }
    }

    /// Sets the summary of the rides that are now over, from their whole documents (a ride's
    /// start may be older than the batch that ends it).
    async fn summarize(&self, ids: Vec<&str>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let cursor = self
            .rides
            .find(doc! {"_id": {"$in": ids}})
            .await
            .map_err(unavailable)?;
        let mut updates = Vec::new();
        for ride in collect::<RideRecord>(cursor, RIDE_TIMES).await? {
            if let Some(summary) = ride.summarize() {
                let summary = bson::to_bson(&summary).map_err(unavailable)?;
                updates.push(doc! {"q": {"_id": &ride.id}, "u": {"$set": {"summary": summary}}});
            }
        }
        self.update_rides(updates).await
    }
}

/// The update statement that merges what a batch says about a ride into its document, with the
/// rules of [`RideRecord::merge`].
fn ride_update(newer: &RideRecord) -> Document {
    // A batch older than what the document holds is a replay: the filter misses, the upsert
    // collides with the existing `_id`, and nothing changes. `$not $gt` also matches a document
    // without `updatedAt`; an `$or` would do the same but some servers then scan the collection.
    let filter = doc! {
        "_id": &newer.id,
        "updatedAt": {"$not": {"$gt": newer.updated_at.map(DateTime::from_millis)}},
    };
    let mut set = doc! {
        "status": newer.status.as_str(),
        "progress": newer.progress,
        "distanceM": newer.distance_m,
        "routeLengthM": newer.route_length_m,
        "speedKmh": newer.speed_kmh,
        "heading": newer.heading,
    };
    if let Some(p) = newer.position {
        set.insert("position", doc! {"lat": p.lat, "lng": p.lng});
    }
    for (key, time) in [
        ("updatedAt", newer.updated_at),
        ("finishedAt", newer.finished_at),
    ] {
        if let Some(ms) = time {
            set.insert(key, DateTime::from_millis(ms));
        }
    }
    let mut update = doc! {
        "$setOnInsert": {"routeId": &newer.route_id, "clientId": &newer.client_id},
        "$set": set,
        "$max": {"maxSpeedKmh": newer.max_speed_kmh, "positions": newer.positions as i64},
    };
    if let Some(ms) = newer.started_at {
        update.insert("$min", doc! {"startedAt": DateTime::from_millis(ms)});
    }
    doc! {"q": filter, "u": update, "upsert": true}
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
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

/// A record as a document: `id` becomes `_id`, millisecond `times` become BSON dates, and absent
/// values are left out rather than stored as nulls.
fn to_doc(value: &impl Serialize, times: &[&str]) -> Document {
    let fields = bson::to_document(value).expect("records serialize to BSON");
    let mut document = Document::new();
    if let Some(id) = fields.get("id") {
        document.insert("_id", id.clone());
    }
    for (key, value) in fields {
        match value {
            _ if key == "id" => {}
            Bson::Null => {}
            Bson::Int64(ms) if times.contains(&key.as_str()) => {
                document.insert(key, DateTime::from_millis(ms));
            }
            value => {
                document.insert(key, value);
            }
        }
    }
    document
}

/// The inverse of [`to_doc`]; fields the record does not know (derived ones) are ignored.
fn from_doc<T: DeserializeOwned>(mut document: Document, times: &[&str]) -> Result<T, StoreError> {
    let key = document
        .get("_id")
        .map(|id| id.to_string())
        .unwrap_or_default();
    if let Some(id) = document.remove("_id") {
        document.insert("id", id);
    }
    for time in times {
        if let Some(Bson::DateTime(at)) = document.get(*time) {
            let ms = at.timestamp_millis();
            document.insert(*time, ms);
        }
    }
    bson::from_document(document).map_err(|e| StoreError::Corrupt {
        key,
        reason: e.to_string(),
    })
}

/// A ride from its document. The summary is written just after the update that ends the ride;
/// a read in between derives it, so an ended ride is never shown without one.
fn ride_from_doc(document: Document) -> Result<RideRecord, StoreError> {
    let mut ride: RideRecord = from_doc(document, RIDE_TIMES)?;
    if ride.status.is_over() && ride.summary.is_none() {
        ride.summary = ride.summarize();
    }
    Ok(ride)
}

fn route_doc(route: &Route) -> Document {
    let mut document = to_doc(route, ROUTE_TIMES);
    let (first, last) = route.ends();
    document.insert("titleKey", route.title_key());
    document.insert("startPosition", doc! {"lat": first.lat, "lng": first.lng});
    document.insert("endPosition", doc! {"lat": last.lat, "lng": last.lng});
    document.insert("lengthM", route.length_m());
    document
}

fn position_doc(p: &NewPosition) -> Document {
    let mut document = doc! {"_id": format!("{}:{}", p.ride(), p.seq), "rideId": p.ride()};
    document.extend(to_doc(&PathPoint::of(p), POSITION_TIMES));
    document
}

fn route_write_error(e: mongodb::error::Error, route: &Route) -> StoreError {
    if is_duplicate_key(&e) {
        StoreError::DuplicateTitle(route.title.clone())
    } else {
        unavailable(e)
    }
}

async fn collect<T: DeserializeOwned>(
    cursor: mongodb::Cursor<Document>,
    times: &[&str],
) -> Result<Vec<T>, StoreError> {
    let documents: Vec<Document> = cursor.try_collect().await.map_err(unavailable)?;
    documents.into_iter().map(|d| from_doc(d, times)).collect()
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
            .await
            .map_err(unavailable)?;
        self.rides
            .create_indexes([
                index(doc! {"routeId": 1, "_id": -1}, "by_route", false),
                index(doc! {"status": 1, "_id": -1}, "by_status", false),
            ])
            .await
            .map_err(unavailable)?;
        self.positions
            .create_index(index(doc! {"rideId": 1, "seq": 1}, "by_ride", true))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn list_routes(&self, page: &PageRequest) -> Result<Page<Route>, StoreError> {
        let filter = match &page.after {
            Some(after) => doc! {"_id": {"$gt": after}},
            None => doc! {},
        };
        let cursor = self
            .routes
            .find(filter)
            .sort(doc! {"_id": 1})
            .limit(page.limit as i64 + 1)
            .await
            .map_err(unavailable)?;
        let items = collect(cursor, ROUTE_TIMES).await?;
        Ok(Page::from_overfetch(items, page.limit, |r: &Route| &r.id))
    }

    async fn get_route(&self, id: &str) -> Result<Option<Route>, StoreError> {
        let found = self
            .routes
            .find_one(doc! {"_id": id})
            .await
            .map_err(unavailable)?;
        found.map(|d| from_doc(d, ROUTE_TIMES)).transpose()
    }

    async fn has_routes(&self) -> Result<bool, StoreError> {
        let found = self.routes.find_one(doc! {}).await.map_err(unavailable)?;
        Ok(found.is_some())
    }

    async fn insert_route(&self, route: &Route) -> Result<(), StoreError> {
        self.routes
            .insert_one(route_doc(route))
            .await
            .map(drop)
            .map_err(|e| route_write_error(e, route))
    }

    async fn replace_route(&self, route: &Route) -> Result<bool, StoreError> {
        let result = self
            .routes
            .replace_one(doc! {"_id": &route.id}, route_doc(route))
            .await
            .map_err(|e| route_write_error(e, route))?;
        Ok(result.matched_count > 0)
    }

    async fn delete_route(&self, id: &str) -> Result<bool, StoreError> {
        let result = self
            .routes
            .delete_one(doc! {"_id": id})
            .await
            .map_err(unavailable)?;
        Ok(result.deleted_count > 0)
    }

    async fn ride_requested(&self, ride: &RideRecord) -> Result<(), StoreError> {
        let mut fresh = to_doc(ride, RIDE_TIMES);
        fresh.remove("_id");
        let requested_at = fresh.remove("requestedAt");
        let mut update = doc! {"$setOnInsert": fresh};
        if let Some(at) = requested_at {
            update.insert("$set", doc! {"requestedAt": at});
        }
        self.rides
            .update_one(doc! {"_id": &ride.id}, update)
            .upsert(true)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn record_positions(&self, positions: &[NewPosition]) -> Result<(), StoreError> {
        if positions.is_empty() {
            return Ok(());
        }
        // Positions first: a ride document never claims positions its path lacks.
        match self
            .positions
            .insert_many(positions.iter().map(position_doc))
            .ordered(false)
            .await
        {
            Ok(_) => {}
            // Already written by an earlier attempt: the ids make a replay a no-op.
            Err(e) if only_duplicates(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let rides: Vec<RideRecord> = by_ride(positions)
            .into_iter()
            .filter_map(|(_, group)| RideRecord::from_positions(group))
            .collect();
        self.update_rides(rides.iter().map(ride_update).collect())
            .await?;
        let over = rides
            .iter()
            .filter(|r| r.status.is_over())
            .map(|r| r.id.as_str())
            .collect();
        self.summarize(over).await
    }

    async fn get_ride(&self, id: &str) -> Result<Option<RideRecord>, StoreError> {
        let found = self
            .rides
            .find_one(doc! {"_id": id})
            .await
            .map_err(unavailable)?;
        found.map(ride_from_doc).transpose()
    }

    async fn ride_path(&self, id: &str) -> Result<Vec<PathPoint>, StoreError> {
        let cursor = self
            .positions
            .find(doc! {"rideId": id})
            .sort(doc! {"seq": 1})
            .await
            .map_err(unavailable)?;
        collect(cursor, POSITION_TIMES).await
    }

    async fn list_rides(
        &self,
        filter: &RideFilter,
        page: &PageRequest,
    ) -> Result<Page<RideRecord>, StoreError> {
        let mut query = Document::new();
        if let Some(status) = filter.status {
            query.insert("status", bson::to_bson(&status).map_err(unavailable)?);
        }
        if let Some(route_id) = &filter.route_id {
            query.insert("routeId", route_id);
        }
        if let Some(after) = &page.after {
            query.insert("_id", doc! {"$lt": after});
        }
        let cursor = self
            .rides
            .find(query)
            .sort(doc! {"_id": -1})
            .limit(page.limit as i64 + 1)
            .await
            .map_err(unavailable)?;
        let documents: Vec<Document> = cursor.try_collect().await.map_err(unavailable)?;
        let items = documents
            .into_iter()
            .map(ride_from_doc)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |r: &RideRecord| {
            &r.id
        }))
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
