//! Consumer groups: their states and members (ListGroups, DescribeGroups), and each partition's
//! committed offset, end offset and lag (OffsetFetch). Lag is the end offset minus the committed
//! offset; a partition the group has not committed on has no lag, not a lag of zero.

use std::sync::PoisonError;

use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    groups::GroupInfo,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ClusterError, ClusterReader, Topology};

/// A consumer group as the broker describes it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub name: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead`.
    pub state: String,
    /// The partition assignor in use (`range`, `roundrobin`, …), once the group has formed.
    pub protocol: String,
    pub members: Vec<GroupMember>,
    /// Every partition of the topics the group reads (it has committed on or owns one of them).
    pub offsets: Vec<GroupOffset>,
}

impl Group {
    /// The group's lag summed over its partitions; `None` if it has committed on none of them.
    pub fn total_lag(&self) -> Option<i64> {
        self.offsets
            .iter()
            .filter_map(|o| o.lag)
            .fold(None, |sum, lag| Some(sum.unwrap_or(0) + lag))
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMember {
    pub id: String,
    /// `None` when the broker does not report it (the built-in broker does not).
    pub client_id: Option<String>,
    /// `None` when the broker does not report it (the built-in broker does not).
    pub host: Option<String>,
    /// The partitions the member was given; `None` when the broker does not report assignments
    /// (the built-in broker does not).
    pub assignment: Option<Vec<TopicPartition>>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    /// The offset the group will read next; `None` if it has never committed on this partition.
    pub committed: Option<i64>,
    pub end_offset: i64,
    /// `end_offset - committed`; `None` without a commit.
    pub lag: Option<i64>,
    /// The id of the member that owns the partition, where the broker reports assignments.
    pub owner: Option<String>,
}

impl ClusterReader {
    /// Every group's name and state (ListGroups), by name.
    pub fn group_names(&self) -> Result<Vec<(String, String)>, ClusterError> {
        let list = self
            .admin
            .inner()
            .fetch_group_list(None, self.timeout)
            .map_err(|e| self.failed("ListGroups", e))?;
        let mut names: Vec<(String, String)> = list
            .groups()
            .iter()
            .map(|g| (g.name().to_owned(), g.state().to_owned()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// One group: its members and its offsets on the topics of `topology`.
    pub fn group(&self, name: &str, topology: &Topology) -> Result<Group, ClusterError> {
        let described = self
            .admin
            .inner()
            .fetch_group_list(Some(name), self.timeout)
            .map_err(|e| self.failed("DescribeGroups", e))?;
        let info = described.groups().iter().find(|g| g.name() == name);
        self.described(name, info, topology)
    }

    /// Every group, described in one ListGroups and DescribeGroups, each with its offsets (one
    /// OffsetFetch per group), by name; a group that failed to read is its error.
    #[allow(clippy::type_complexity)]
    pub fn groups(
        &self,
        topology: &Topology,
    ) -> Result<Vec<(String, Result<Group, ClusterError>)>, ClusterError> {
        let list = self
            .admin
            .inner()
            .fetch_group_list(None, self.timeout)
            .map_err(|e| self.failed("ListGroups", e))?;
        let mut infos: Vec<_> = list.groups().iter().collect();
        infos.sort_by_key(|g| g.name());
        Ok(infos
            .into_iter()
            .map(|info| {
                let group = self.described(info.name(), Some(info), topology);
                (info.name().to_owned(), group)
            })
            .collect())
    }

    /// A group from its description (`None`: the broker does not know it) and its offsets.
    fn described(
        &self,
        name: &str,
        info: Option<&GroupInfo>,
        topology: &Topology,
    ) -> Result<Group, ClusterError> {
        let mut clients = self
            .group_clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !clients.contains_key(name) {
            let client: BaseConsumer = super::create(
                self.kafka
                    .client()
                    .set("group.id", name)
                    .set("enable.auto.commit", "false"),
            )?;
            clients.insert(name.to_owned(), client);
        }
        let client = &clients[name];
        let members: Vec<GroupMember> = info
            .map(|g| g.members())
            .unwrap_or_default()
            .iter()
            .map(|m| GroupMember {
                id: m.id().to_owned(),
                client_id: reported(m.client_id()),
                host: reported(m.client_host()),
                assignment: m
                    .assignment()
                    .filter(|a| !a.is_empty())
                    .and_then(assignment),
            })
            .collect();

        let mut every = TopicPartitionList::new();
        for topic in &topology.topics {
            for partition in &topic.partitions {
                every.add_partition(&topic.name, partition.id);
            }
        }
        let committed = client
            .committed_offsets(every, self.timeout)
            .map_err(|e| self.failed("OffsetFetch", e))?;
        let committed_at =
            |element: &rdkafka::topic_partition_list::TopicPartitionListElem<'_>| match element
                .offset()
            {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
        let owner = |topic: &str, partition: i32| {
            members.iter().find_map(|m| {
                m.assignment
                    .as_ref()?
                    .iter()
                    .any(|tp| tp.topic == topic && tp.partition == partition)
                    .then(|| m.id.clone())
            })
        };
        // The topics the group reads: those it has committed on or owns a partition of.
        let read: Vec<String> = committed
            .elements()
            .iter()
            .filter(|e| committed_at(e).is_some() || owner(e.topic(), e.partition()).is_some())
            .map(|e| e.topic().to_owned())
            .collect();
        let offsets = committed
            .elements()
            .iter()
            .filter(|e| read.iter().any(|t| t == e.topic()))
            .filter_map(|e| {
                let topic = topology.topics.iter().find(|t| t.name == e.topic())?;
                let end_offset = topic.end_offset(e.partition())?;
                let committed = committed_at(e);
                Some(GroupOffset {
                    topic: e.topic().to_owned(),
                    partition: e.partition(),
                    committed,
                    end_offset,
                    lag: committed.map(|c| end_offset - c),
                    owner: owner(e.topic(), e.partition()),
                })
            })
            .collect();
        let group = Group {
            name: name.to_owned(),
            state: info.map_or_else(|| "Dead".to_owned(), |g| g.state().to_owned()),
            protocol: info.map(|g| g.protocol().to_owned()).unwrap_or_default(),
            members,
            offsets,
        };
        if group.state == "Dead" && group.offsets.is_empty() {
            return Err(ClusterError::UnknownGroup(name.to_owned()));
        }
        Ok(group)
    }
}

/// The topic partitions in a member's assignment (Kafka's `ConsumerProtocolAssignment`: a
/// version, then each topic's name and partitions; the user data after them is not read).
fn assignment(bytes: &[u8]) -> Option<Vec<TopicPartition>> {
    let mut rest = bytes;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let _version = take(2)?;
    let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
    let mut assigned = Vec::new();
    for _ in 0..topics.max(0) {
        let length = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let topic = String::from_utf8(take(usize::try_from(length).ok()?)?.to_vec()).ok()?;
        let partitions = i32::from_be_bytes(take(4)?.try_into().ok()?);
        for _ in 0..partitions.max(0) {
            let partition = i32::from_be_bytes(take(4)?.try_into().ok()?);
            assigned.push(TopicPartition {
                topic: topic.clone(),
                partition,
            });
        }
    }
    Some(assigned)
}

/// A member's text field: brokers that do not know it send it empty.
fn reported(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_lists_its_topic_partitions() {
        // Version 1, one topic "rides" with partitions 0 and 2, then empty user data.
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 5];
        bytes.extend(b"rides");
        bytes.extend([0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff]);
        let rides = |partition| TopicPartition {
            topic: "rides".to_owned(),
            partition,
        };
        assert_eq!(assignment(&bytes), Some(vec![rides(0), rides(2)]));
        assert_eq!(assignment(&bytes[..9]), None, "a truncated assignment");
    }
}
