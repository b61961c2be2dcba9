//! Consumer groups as `kafka-consumer-groups` shows them: the list with states, and one group's
//! committed offset, end offset and lag per partition with the member that owns it. Lag is read,
//! not estimated: the broker's end offset minus the group's committed offset; a partition the
//! group has not committed on shows `-`, not a guess.

use anyhow::{Result, bail};
use events::KafkaConfig;
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    groups::GroupInfo,
};

use super::{TIMEOUT, broker_name, table};

/// `kafka-consumer-groups --list --state`.
pub fn list(kafka: &KafkaConfig) -> Result<String> {
    let consumer: BaseConsumer = kafka.client().create()?;
    let groups = consumer.fetch_group_list(None, TIMEOUT)?;
    let mut rows = vec![vec!["GROUP".to_owned(), "STATE".to_owned()]];
    let mut found: Vec<&GroupInfo> = groups.groups().iter().collect();
    found.sort_by_key(|g| g.name());
    rows.extend(
        found
            .iter()
            .map(|g| vec![g.name().to_owned(), g.state().to_owned()]),
    );
    Ok(table(&rows))
}

/// `kafka-consumer-groups --describe --group GROUP`.
pub fn describe(kafka: &KafkaConfig, group: &str) -> Result<String> {
    // A client in the group that never subscribes: it only fetches the group's offsets.
    let consumer: BaseConsumer = kafka
        .client()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let groups = consumer.fetch_group_list(Some(group), TIMEOUT)?;
    let info = groups.groups().iter().find(|g| g.name() == group);
    let owners: Vec<(String, i32, &str, &str, &str)> = info
        .map(|g| g.members())
        .unwrap_or_default()
        .iter()
        .flat_map(|member| {
            let assigned = member.assignment().and_then(assignment).unwrap_or_default();
            assigned.into_iter().map(move |(topic, partition)| {
                (
                    topic,
                    partition,
                    member.id(),
                    member.client_host(),
                    member.client_id(),
                )
            })
        })
        .collect();

    let metadata = consumer.fetch_metadata(None, TIMEOUT)?;
    let mut every = TopicPartitionList::new();
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__"))
    {
        for partition in topic.partitions() {
            every.add_partition(topic.name(), partition.id());
        }
    }
    let committed = consumer.committed_offsets(every, TIMEOUT)?;
    let mut rows = vec![
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let offset = |element: &rdkafka::topic_partition_list::TopicPartitionListElem<'_>| match element
        .offset()
    {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    };
    // Every partition of a topic the group reads: one it owns or has committed on.
    let read: Vec<String> = committed
        .elements()
        .iter()
        .filter(|e| offset(e).is_some())
        .map(|e| e.topic().to_owned())
        .chain(owners.iter().map(|(topic, ..)| topic.clone()))
        .collect();
    for element in committed.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        if !read.iter().any(|t| t == topic) {
            continue;
        }
        let owner = owners
            .iter()
            .find(|(t, p, ..)| t == topic && *p == partition);
        let current = offset(&element);
        let (_, end) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        let dash = || "-".to_owned();
        let (id, host, client) = owner
            .map_or((dash(), dash(), dash()), |(_, _, id, host, client)| {
                (id.to_string(), host.to_string(), client.to_string())
            });
        rows.push(vec![
            group.to_owned(),
            topic.to_owned(),
            partition.to_string(),
            current.map_or_else(dash, |c| c.to_string()),
            end.to_string(),
            current.map_or_else(dash, |c| (end - c).to_string()),
            id,
            host,
            client,
        ]);
    }
    let Some(info) = info.filter(|g| g.state() != "Dead") else {
        if rows.len() == 1 {
            bail!("consumer group '{group}' does not exist");
        }
        return Ok(table(&rows));
    };
    let mut out = table(&rows);
    let members = info.members();
    out.push_str(&format!(
        "\nState: {}. Members: {}.",
        info.state(),
        members.len()
    ));
    if members.is_empty() && info.state() == "Stable" {
        out.push_str(&format!(
            " (members, their hosts and assignments are not reported by {})",
            broker_name(consumer.client())
        ));
    }
    out.push('\n');
    if !members.is_empty() {
        // `kafka-consumer-groups --describe --members`.
        let or_dash = |text: &str| {
            if text.is_empty() {
                "-".to_owned()
            } else {
                text.to_owned()
            }
        };
        let mut table_rows = vec![
            ["CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
                .map(str::to_owned)
                .to_vec(),
        ];
        let mut unreported = false;
        for member in members {
            let assigned = member
                .assignment()
                .filter(|a| !a.is_empty())
                .and_then(assignment);
            unreported |= assigned.is_none();
            table_rows.push(vec![
                or_dash(member.id()),
                or_dash(member.client_host()),
                or_dash(member.client_id()),
                assigned.map_or_else(|| "-".to_owned(), |a| a.len().to_string()),
            ]);
        }
        out.push('\n');
        out.push_str(&table(&table_rows));
        if unreported {
            out.push_str(&format!(
                "(assignments are not reported by {})\n",
                broker_name(consumer.client())
            ));
        }
    }
    Ok(out)
}

/// The topic partitions in a member's assignment (Kafka's `ConsumerProtocolAssignment`: a
/// version, then each topic's name and partitions; the user data after them is not read).
fn assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
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
            assigned.push((topic.clone(), partition));
        }
    }
    Some(assigned)
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
        assert_eq!(
            assignment(&bytes),
            Some(vec![("rides".to_owned(), 0), ("rides".to_owned(), 2)])
        );
        assert_eq!(assignment(&bytes[..9]), None, "a truncated assignment");
    }
}
