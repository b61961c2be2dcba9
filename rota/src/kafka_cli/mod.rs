//! `rota kafka …`: what Kafka's own command-line tools show (`kafka-topics`, `kafka-configs`,
//! `kafka-consumer-groups`, `kafka-console-consumer`), for any Kafka cluster, through the Kafka
//! protocol alone, so the built-in broker and a real cluster are read the same way. Kafka's tools
//! need a JVM; these come with the binary. A request the broker does not implement is reported as
//! such, by name, instead of as a protocol error. What is read is [`events::cluster`]'s, which the System page shows too.
//!
//! The reads are blocking librdkafka calls made on the runtime's thread: this is a one-shot
//! command with nothing else to run meanwhile.

mod groups;
mod incremental_alter;
mod tail;
mod topics;

use anyhow::Result;
use events::{KafkaConfig, cluster::ClusterReader};

use crate::cli::{KafkaCommand, KafkaCommandArgs};

pub async fn run(args: KafkaCommandArgs) -> Result<()> {
    let mut kafka = KafkaConfig::new(args.kafka_brokers);
    if std::env::var_os("KAFKA_SECURITY_PROTOCOL").is_none()
        && let Some(login) = crate::broker::login::read_settings(&args.data_dir)?
    {
        eprintln!(
            "logging in with {}",
            args.data_dir
                .join(crate::broker::login::LIBRDKAFKA_FILE)
                .display()
        );
        kafka.extra = login;
    }
    let kafka = kafka.with_env_passthrough();
    let reader = ClusterReader::new(&kafka)?;
    let out = match args.command {
        KafkaCommand::Topics { topic } => topics::describe(&reader, topic.as_deref())?,
        KafkaCommand::Create {
            topic,
            partitions,
            configs,
        } => topics::create(&reader, &topic, partitions, &configs).await?,
        KafkaCommand::AddPartitions { topic, partitions } => {
            topics::add_partitions(&reader, &topic, partitions).await?
        }
        KafkaCommand::Configs { topic, set } => topics::configs(&reader, &topic, &set)?,
        KafkaCommand::Delete { topic } => topics::delete(&reader, &topic).await?,
        KafkaCommand::Groups { describe } => match describe {
            Some(group) => groups::describe(&reader, &group)?,
            None => groups::list(&reader)?,
        },
        KafkaCommand::Tail {
            topic,
            from_beginning,
            key,
            max,
        } => return tail::run(&kafka, &topic, from_beginning, key.as_deref(), max),
    };
    print!("{out}");
    Ok(())
}

/// Parses `key=value`.
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

/// Lines of cells, each column as wide as its widest cell, as Kafka's tools print tables.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_key_values_parse() {
        let rows = [
            vec!["GROUP".to_owned(), "LAG".to_owned()],
            vec!["simulator".to_owned(), "12".to_owned()],
        ];
        assert_eq!(table(&rows), "GROUP      LAG\nsimulator  12\n");
        assert_eq!(
            key_value("retention.ms=60000"),
            Ok(("retention.ms".to_owned(), "60000".to_owned()))
        );
        assert!(key_value("retention.ms").is_err());
        assert!(key_value("=1").is_err());
    }
}
