//! Consumer groups as `kafka-consumer-groups` shows them: the list with states, and one group's
//! committed offset, end offset and lag per partition with the member that owns it. A partition
//! the group has not committed on shows `-`, not a guess.

use anyhow::Result;
use events::cluster::{ClusterReader, Group};

use super::table;

/// `kafka-consumer-groups --list --state`.
pub fn list(reader: &ClusterReader) -> Result<String> {
    let mut rows = vec![vec!["GROUP".to_owned(), "STATE".to_owned()]];
    rows.extend(
        reader
            .group_names()?
            .into_iter()
            .map(|(name, state)| vec![name, state]),
    );
    Ok(table(&rows))
}

/// `kafka-consumer-groups --describe --group GROUP`, then `--members`.
pub fn describe(reader: &ClusterReader, name: &str) -> Result<String> {
    let topology = reader.topology(None)?;
    let group = reader.group(name, &topology)?;
    let mut out = table(&offset_rows(&group));
    let members = &group.members;
    if group.state == "Dead" {
        return Ok(out);
    }
    out.push_str(&format!(
        "\nState: {}. Members: {}.",
        group.state,
        members.len()
    ));
    if members.is_empty() && group.state == "Stable" {
        out.push_str(&format!(
            " (members, their hosts and assignments are not reported by {})",
            reader.broker_name()
        ));
    }
    out.push('\n');
    if members.is_empty() {
        return Ok(out);
    }
    let mut rows = vec![
        ["CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for member in members {
        rows.push(vec![
            member.id.clone(),
            or_dash(&member.host),
            or_dash(&member.client_id),
            member
                .assignment
                .as_ref()
                .map_or_else(dash, |a| a.len().to_string()),
        ]);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    if members.iter().any(|m| m.assignment.is_none()) {
        out.push_str(&format!(
            "(assignments are not reported by {})\n",
            reader.broker_name()
        ));
    }
    Ok(out)
}

/// The header and one row per partition.
fn offset_rows(group: &Group) -> Vec<Vec<String>> {
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
    for offset in &group.offsets {
        let owner = offset
            .owner
            .as_ref()
            .and_then(|id| group.members.iter().find(|m| &m.id == id));
        let number = |n: Option<i64>| n.map_or_else(dash, |n| n.to_string());
        rows.push(vec![
            group.name.clone(),
            offset.topic.clone(),
            offset.partition.to_string(),
            number(offset.committed),
            offset.end_offset.to_string(),
            number(offset.lag),
            owner.map_or_else(dash, |m| m.id.clone()),
            owner.map_or_else(dash, |m| or_dash(&m.host)),
            owner.map_or_else(dash, |m| or_dash(&m.client_id)),
        ]);
    }
    rows
}

fn dash() -> String {
    "-".to_owned()
}

fn or_dash(text: &Option<String>) -> String {
    text.clone().unwrap_or_else(dash)
}
