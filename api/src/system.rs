//! The System view: the cluster as the System page and `GET /api/system` show it — brokers,
//! topics with their partitions' offsets and rates, every consumer group with its members,
//! committed offsets, lag over the last minutes and last rebalance, and where each running ride's
//! key landed.
//!
//! Reading the cluster costs admin requests, so it happens only when asked, at most once per
//! [`REFRESH`] however many pages ask (they share the last read), and never on the live position
//! path: rates and lag history advance only while someone watches. A ride's tail is kept up to
//! date by the [`KeyTap`] instead of being read again. What the broker does not
//! report stays unreported (`None`), and for the groups this process is a member of, its own
//! members say what they own ([`events::Membership`]), which matters on the built-in broker, which
//! does not report assignments.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use events::{
    KafkaConfig, MemberContext, Membership, TOPIC_NEW_POSITION,
    cluster::{Broker, ClusterError, ClusterReader, Group, Record, Topic, Topology},
};
use ops::{Exposition, Metered};
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::{
    error::chain,
    hub::{Hub, RideRecord},
    key_tap::{self, KeyTap},
    limits::{Rate, RateLimiter},
};

/// At most one read of the cluster per this long.
pub const REFRESH: Duration = Duration::from_secs(1);
/// How long one admin request may take before the page says the broker does not answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Lag points kept per group: five minutes at one read a second.
const LAG_HISTORY: usize = 300;
/// Rides listed per partition (all are counted).
const RIDES_LISTED: usize = 100;
/// How long a tail read may take.
const TAIL_WITHIN: Duration = Duration::from_secs(2);

/// The cluster as the System page shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct System {
    /// When the cluster was read (milliseconds since the Unix epoch).
    pub read_at: i64,
    pub cluster_id: Option<String>,
    /// Whether this is Rota's built-in broker.
    pub built_in: bool,
    pub brokers: Vec<Broker>,
    pub topics: Vec<TopicView>,
    pub groups: Vec<GroupView>,
    /// This api process's group-less reader of `route.new-position`, which feeds the browsers.
    pub live_reader: LiveReader,
    /// What could not be read this time, in words (the rest is still shown).
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicView {
    #[serde(flatten)]
    pub topic: Topic,
    /// The part of Rota that writes it, for Rota's own topics (Kafka does not say).
    pub written_by: Option<&'static str>,
    /// Records appended per second over the last read, all partitions; `None` on the first read.
    pub messages_per_second: Option<f64>,
    /// The same per partition, in the order of `partitions`.
    pub partition_rates: Vec<Option<f64>>,
    /// On `route.new-position`: the running rides whose latest position this process read, per
    /// partition (at most 100 listed each), keyed by ride id.
    pub rides: Vec<PartitionRides>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionRides {
    pub partition: i32,
    /// Rides on this partition.
    pub count: usize,
    pub listed: Vec<RideRecord>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    #[serde(flatten)]
    pub group: Group,
    /// Lag summed over the group's partitions; `None` if it has committed on none.
    pub total_lag: Option<i64>,
    /// Offsets committed per second over the last read; `None` on the first read.
    pub commits_per_second: Option<f64>,
    /// `total_lag` at each read of the last minutes, oldest first.
    pub lag_history: Vec<LagPoint>,
    /// The last rebalance seen: by this process's own member of the group, or a change of members
    /// or a rebalancing state between two reads.
    pub last_rebalance_at: Option<i64>,
    /// Whether the broker reports which partitions its members own.
    pub assignments_reported: bool,
    /// This process's own members of the group, with what they own.
    pub local_members: Vec<Membership>,
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct LagPoint {
    pub at: i64,
    pub lag: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveReader {
    pub topic: &'static str,
    pub positions_received: u64,
    /// Positions read per second over the last read; `None` on the first read.
    pub positions_per_second: Option<f64>,
}

/// Why the cluster could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

impl From<ClusterError> for Unreadable {
    fn from(e: ClusterError) -> Self {
        Self(chain(&e))
    }
}

/// Runs blocking cluster reads off the async threads.
async fn off_thread<T: Send + 'static, E: Into<Unreadable> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Unreadable> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Unreadable(e.to_string()))?
        .map_err(Into::into)
}

/// What one read found, for the rates of the next.
struct Sample {
    at: Instant,
    ends: HashMap<(String, i32), i64>,
    committed: HashMap<String, i64>,
    positions: u64,
    /// Per group: its state and member ids, to see a rebalance between reads.
    membership: HashMap<String, (String, Vec<String>)>,
}

#[derive(Default)]
struct ViewState {
    reader: Option<Arc<ClusterReader>>,
    latest: Option<(Instant, Result<Arc<System>, Unreadable>)>,
    previous: Option<Sample>,
    lag_history: BTreeMap<String, VecDeque<LagPoint>>,
    rebalance_seen: HashMap<String, i64>,
    tails: HashMap<TailQuery, (Instant, Arc<Vec<Record>>)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TailQuery {
    topic: String,
    key: Option<String>,
    limit: usize,
}

/// Reads the cluster for the System page, sharing each read among everyone who asks.
pub struct SystemView {
    kafka: KafkaConfig,
    hub: Arc<Hub>,
    /// The group members running in this process.
    members: Vec<MemberContext>,
    state: Mutex<ViewState>,
    tap: Arc<KeyTap>,
    /// Reads of the cluster made, for `/metrics`.
    reads: AtomicU64,
    /// Tails that scan a topic, per caller: the one cost of this view a caller chooses.
    scans: RateLimiter,
}

/// Scans of a topic one caller may ask for: a page following a ride asks for one when it starts
/// following, then reads what the api's reader keeps.
pub const SCANS: Rate = Rate {
    per_second: 1.0,
    burst: 5,
};

impl SystemView {
    pub fn new(kafka: KafkaConfig, hub: Arc<Hub>, members: Vec<MemberContext>) -> Self {
        Self {
            kafka,
            hub,
            members,
            state: Mutex::default(),
            tap: Arc::default(),
            reads: AtomicU64::new(0),
            scans: RateLimiter::new(SCANS),
        }
    }

    /// The last read if it is fresh, else a new one.
    pub async fn read(&self) -> Result<Arc<System>, Unreadable> {
        let mut state = self.state.lock().await;
        if let Some((at, latest)) = &state.latest
            && at.elapsed() < REFRESH
        {
            return latest.clone();
        }
        // Dated from its start: a page asking every half second then sees a read every second.
        let started = Instant::now();
        let result = self.read_now(&mut state).await;
        state.latest = Some((started, result.clone()));
        result
    }

    /// The newest `limit` records of `topic` (only `key`'s, if given), from the last read's
    /// partitions; shared for [`REFRESH`] like the read.
    pub async fn tail(
        &self,
        topic: &str,
        key: Option<&str>,
        limit: usize,
        caller: &str,
    ) -> Result<Arc<Vec<Record>>, TailError> {
        let system = self.read().await.map_err(TailError::Unreadable)?;
        let Some(view) = system.topics.iter().find(|t| t.topic.name == topic) else {
            return Err(TailError::UnknownTopic(topic.to_owned()));
        };
        if let (TOPIC_NEW_POSITION, Some(key)) = (topic, key) {
            return self.followed(key, limit, caller).await;
        }
        let query = TailQuery {
            topic: topic.to_owned(),
            key: key.map(str::to_owned),
            limit,
        };
        let mut state = self.state.lock().await;
        state.tails.retain(|_, (at, _)| at.elapsed() < REFRESH);
        if let Some((_, records)) = state.tails.get(&query) {
            return Ok(records.clone());
        }
        self.scans.take(caller).map_err(TailError::TooManyScans)?;
        let reader = self.reader(&mut state)?;
        let topic = view.topic.clone();
        let (query, records) = off_thread(move || {
            let key = query.key.as_deref();
            events::cluster::newest_records(&reader, &topic, key, limit, TAIL_WITHIN)
                .map(|records| (query, records))
        })
        .await?;
        let records = Arc::new(records);
        state.tails.insert(query, (Instant::now(), records.clone()));
        Ok(records)
    }

    /// A key's newest records on `route.new-position`, from the [`KeyTap`] once it follows the
    /// key; the first time, from a scan of the partition the key is on.
    async fn followed(
        &self,
        key: &str,
        limit: usize,
        caller: &str,
    ) -> Result<Arc<Vec<Record>>, TailError> {
        if let Some(records) = self.tap.follow(key, limit) {
            return Ok(Arc::new(records));
        }
        self.scans.take(caller).map_err(TailError::TooManyScans)?;
        self.tap.begin(key);
        let reader = self.reader(&mut *self.state.lock().await)?;
        let partition = self.hub.ride_record(key).map(|r| r.partition);
        let scan_key = key.to_owned();
        let scanned = off_thread(move || {
            // The ends read now, after the tap began to follow the key: what the scan does not
            // reach, the reader has yet to pass.
            let mut topic = reader.topology(Some(TOPIC_NEW_POSITION))?.topics.remove(0);
            topic
                .partitions
                .retain(|p| partition.is_none_or(|id| p.id == id));
            let key = Some(scan_key.as_str());
            events::cluster::newest_records(&reader, &topic, key, key_tap::KEPT, TAIL_WITHIN)
        })
        .await?;
        self.tap.backfill(key, scanned);
        Ok(Arc::new(self.tap.follow(key, limit).unwrap_or_default()))
    }

    /// What the api's reader of `route.new-position` hands each record to.
    pub fn tap(&self) -> Arc<KeyTap> {
        self.tap.clone()
    }

    /// Where `ride_id`'s latest position is in Kafka, as this process read it.
    pub fn ride(&self, ride_id: &str) -> Option<RideRecord> {
        self.hub.ride_record(ride_id)
    }

    fn reader(&self, state: &mut ViewState) -> Result<Arc<ClusterReader>, Unreadable> {
        if let Some(reader) = &state.reader {
            return Ok(reader.clone());
        }
        let reader = Arc::new(ClusterReader::new(&self.kafka)?.with_timeout(REQUEST_TIMEOUT));
        state.reader = Some(reader.clone());
        Ok(reader)
    }

    async fn read_now(&self, state: &mut ViewState) -> Result<Arc<System>, Unreadable> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let reader = self.reader(state)?;
        let (topology, groups, problems) = off_thread(move || read(&reader)).await?;
        let now = Instant::now();
        let read_at = events::now_ms();
        let positions = self.hub.positions_received();
        let sample = Sample {
            at: now,
            ends: topology
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| ((t.name.clone(), p.id), p.end_offset))
                })
                .collect(),
            committed: groups
                .iter()
                .map(|g| {
                    let sum = g.offsets.iter().filter_map(|o| o.committed).sum();
                    (g.name.clone(), sum)
                })
                .collect(),
            positions,
            membership: groups
                .iter()
                .map(|g| {
                    let mut ids: Vec<String> = g.members.iter().map(|m| m.id.clone()).collect();
                    ids.sort();
                    (g.name.clone(), (g.state.clone(), ids))
                })
                .collect(),
        };
        let previous = state.previous.take();
        // A rate over a long gap (nobody watched) would be an average of unknown shape.
        let previous = previous.filter(|p| now - p.at <= 5 * REFRESH);
        let per_second = |now: i64, then: i64, previous: &Sample| {
            (now - then) as f64 / (sample.at - previous.at).as_secs_f64()
        };

        let records = self.hub.ride_records();
        let topics = topology
            .topics
            .into_iter()
            .map(|topic| {
                let partition_rates: Vec<Option<f64>> = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let previous = previous.as_ref()?;
                        let then = previous.ends.get(&(topic.name.clone(), p.id))?;
                        Some(per_second(p.end_offset, *then, previous))
                    })
                    .collect();
                let messages_per_second = partition_rates
                    .iter()
                    .copied()
                    .sum::<Option<f64>>()
                    .filter(|_| previous.is_some());
                let rides = if topic.name == TOPIC_NEW_POSITION {
                    rides_by_partition(&topic, &records)
                } else {
                    Vec::new()
                };
                TopicView {
                    written_by: written_by(&topic.name),
                    topic,
                    messages_per_second,
                    partition_rates,
                    rides,
                }
            })
            .collect();

        let groups = groups
            .into_iter()
            .map(|group| {
                let total_lag = group.total_lag();
                let history = state.lag_history.entry(group.name.clone()).or_default();
                history.push_back(LagPoint {
                    at: read_at,
                    lag: total_lag,
                });
                while history.len() > LAG_HISTORY {
                    history.pop_front();
                }
                let seen = &sample.membership[&group.name];
                let rebalancing = seen.0 != "Stable" && seen.0 != "Empty" && seen.0 != "Dead";
                let changed = previous
                    .as_ref()
                    .and_then(|p| p.membership.get(&group.name))
                    .is_some_and(|before| before != seen);
                if rebalancing || changed {
                    state.rebalance_seen.insert(group.name.clone(), read_at);
                }
                let local_members: Vec<Membership> = self
                    .members
                    .iter()
                    .map(MemberContext::membership)
                    .filter(|m| m.group == group.name)
                    .collect();
                let last_rebalance_at = local_members
                    .iter()
                    .filter_map(|m| m.last_rebalance_at)
                    .chain(state.rebalance_seen.get(&group.name).copied())
                    .max();
                let commits_per_second = previous.as_ref().and_then(|p| {
                    let then = p.committed.get(&group.name)?;
                    Some(per_second(sample.committed[&group.name], *then, p))
                });
                GroupView {
                    total_lag,
                    commits_per_second,
                    lag_history: history.iter().copied().collect(),
                    last_rebalance_at,
                    assignments_reported: group.members.iter().any(|m| m.assignment.is_some()),
                    local_members,
                    group,
                }
            })
            .collect();
        let live_reader = LiveReader {
            topic: TOPIC_NEW_POSITION,
            positions_received: positions,
            positions_per_second: previous
                .as_ref()
                .map(|p| per_second(positions as i64, p.positions as i64, p)),
        };
        state.previous = Some(sample);
        Ok(Arc::new(System {
            read_at,
            cluster_id: topology.cluster_id,
            built_in: topology.built_in,
            brokers: topology.brokers,
            topics,
            groups,
            live_reader,
            problems,
        }))
    }
}

/// The topology and every group, with what could not be read said in words. (Blocking.)
fn read(reader: &ClusterReader) -> Result<(Topology, Vec<Group>, Vec<String>), Unreadable> {
    let topology = reader.topology(None)?;
    let mut problems = Vec::new();
    let mut groups = Vec::new();
    match reader.groups(&topology) {
        Ok(read) => {
            for (name, group) in read {
                match group {
                    Ok(group) => groups.push(group),
                    // Gone between the list and the offsets.
                    Err(ClusterError::UnknownGroup(_)) => {}
                    Err(e) => problems.push(format!("group {name}: {}", chain(&e))),
                }
            }
        }
        Err(e) => problems.push(chain(&e)),
    }
    if topology.topics.iter().any(|t| t.configs.is_none()) {
        problems.push(format!(
            "topic configs are not reported by {}",
            reader.broker_name()
        ));
    }
    Ok((topology, groups, problems))
}

fn written_by(topic: &str) -> Option<&'static str> {
    match topic {
        events::TOPIC_NEW_DIRECTION => Some("api"),
        TOPIC_NEW_POSITION | events::TOPIC_RIDE_PROGRESS => Some("simulator"),
        events::TOPIC_DEAD_LETTERS => Some("connect"),
        _ => None,
    }
}

fn rides_by_partition(topic: &Topic, records: &[RideRecord]) -> Vec<PartitionRides> {
    topic
        .partitions
        .iter()
        .map(|p| {
            let on: Vec<&RideRecord> = records.iter().filter(|r| r.partition == p.id).collect();
            PartitionRides {
                partition: p.id,
                count: on.len(),
                listed: on.into_iter().take(RIDES_LISTED).cloned().collect(),
            }
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    #[error(transparent)]
    Unreadable(Unreadable),
    /// The caller asked for more scans of the cluster than [`SCANS`] allows; try after this long.
    #[error("too many tails needing a scan of the topic")]
    TooManyScans(Duration),
}

impl From<Unreadable> for TailError {
    fn from(e: Unreadable) -> Self {
        Self::Unreadable(e)
    }
}

impl Metered for SystemView {
    fn expose(&self, out: &mut Exposition) {
        out.counter(
            "rota_system_reads_total",
            "Reads of the cluster's topics, groups and offsets for the System view.",
            self.reads.load(Ordering::Relaxed),
        );
    }
}
