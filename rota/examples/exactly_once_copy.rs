//! Kafka transactions, shown: a consume-transform-produce loop that reads topic IN in consumer
//! group GROUP, writes each record's value upper-cased to topic OUT under the same key, and
//! commits what it read in the same transaction as what it wrote.
//!
//!     cargo run --example exactly_once_copy -- BROKERS IN OUT GROUP [PAUSE_MS]
//!
//! PAUSE_MS (none by default) waits that long after each record written, which leaves time to kill
//! it in the middle of a transaction. Kill it at any moment (kill -9) and start it again: a reader of OUT with
//! `isolation.level=read_committed` sees every record of IN exactly once, in order per key. What
//! the killed copy wrote in its open transaction is aborted when the new one starts (same
//! `transactional.id`, so the old producer is fenced), and the group reads on from the offsets of
//! the last committed transaction. A `read_uncommitted` reader also sees the aborted records.
//!
//! It follows rust-rdkafka's and Kafka's rules for the loop: a transaction only when there is
//! something to write (never an empty one), the consumed offsets sent with the group's metadata,
//! on an abortable error abort and rewind to the committed offsets, on a fatal one stop (a new
//! producer must take over). It stops by itself once IN has had nothing new for three seconds
//! after the group gave it its partitions.
//! The built-in broker refuses every transactional producer: there it stops at once, saying so.

use std::time::{Duration, Instant};

use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
    producer::{BaseProducer, BaseRecord, Producer},
};

/// Records per transaction at most.
const BATCH: usize = 50;
const TIMEOUT: Duration = Duration::from_secs(10);
/// Idle this long, the copy is done.
const IDLE: Duration = Duration::from_secs(3);

fn main() -> Result<(), KafkaError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (brokers, input, output, group, pause) = match args.as_slice() {
        [brokers, input, output, group] => (brokers, input, output, group, 0),
        [brokers, input, output, group, pause] if pause.parse::<u64>().is_ok() => {
            (brokers, input, output, group, pause.parse().unwrap_or(0))
        }
        _ => {
            // Also what `cargo test --all-targets` sees when it runs the examples.
            println!("usage: exactly_once_copy BROKERS IN OUT GROUP [PAUSE_MS]");
            return Ok(());
        }
    };
    let pause = Duration::from_millis(pause);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // Never read what another loop wrote and then aborted.
        .set("isolation.level", "read_committed")
        .create()?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        // One id per loop: a restarted copy fences the one it replaces.
        .set("transactional.id", format!("{group}-copy"))
        .create()?;
    if let Err(e) = producer.init_transactions(TIMEOUT) {
        eprintln!("this broker refuses transactional producers: {e}");
        std::process::exit(1);
    }
    consumer.subscribe(&[input])?;

    let mut idle_since = Instant::now();
    loop {
        let mut batch = Vec::new();
        while batch.len() < BATCH {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => batch.push(message.detach()),
                Some(Err(e)) => eprintln!("consumer: {e}"),
                None => break,
            }
        }
        if batch.is_empty() {
            // Idle only counts once the group has given this copy its partitions.
            let assigned = consumer.assignment().is_ok_and(|a| a.count() > 0);
            if !assigned {
                idle_since = Instant::now();
            } else if idle_since.elapsed() > IDLE {
                println!("done");
                return Ok(());
            }
            continue;
        }
        idle_since = Instant::now();
        match copy(&consumer, &producer, output, &batch, pause) {
            Ok(()) => println!("committed {}", batch.len()),
            // Fenced by a newer copy, say: this producer can do nothing more.
            Err(e) if is_fatal(&producer, &e) => {
                eprintln!("fatal: {e}");
                return Err(e);
            }
            Err(e) => {
                eprintln!("transaction aborted ({e}); reading again from the last commit");
                producer.abort_transaction(TIMEOUT)?;
                rewind(&consumer)?;
            }
        }
    }
}

/// One transaction: the batch's records written to `output`, and the offsets after them.
fn copy(
    consumer: &BaseConsumer,
    producer: &BaseProducer,
    output: &str,
    batch: &[rdkafka::message::OwnedMessage],
    pause: Duration,
) -> Result<(), KafkaError> {
    producer.begin_transaction()?;
    let mut next = TopicPartitionList::new();
    for message in batch {
        let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).to_uppercase();
        let mut record = BaseRecord::to(output).payload(&value);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        // A full queue is waited out; any other failure fails the transaction.
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    back,
                )) => {
                    producer.poll(Duration::from_millis(100));
                    record = back;
                }
                Err((e, _)) => return Err(e),
            }
        }
        std::thread::sleep(pause);
        next.add_partition_offset(
            message.topic(),
            message.partition(),
            Offset::Offset(message.offset() + 1),
        )?;
    }
    let group = consumer.group_metadata().ok_or(KafkaError::Canceled)?;
    producer.send_offsets_to_transaction(&next, &group, TIMEOUT)?;
    producer.commit_transaction(TIMEOUT)
}

fn is_fatal(producer: &BaseProducer, error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(e) if e.is_fatal())
        || producer.client().fatal_error().is_some()
}

/// Puts the consumer back at its group's committed offsets, so an aborted batch is read again.
fn rewind(consumer: &BaseConsumer) -> Result<(), KafkaError> {
    let assigned = consumer.assignment()?;
    for element in consumer.committed_offsets(assigned, TIMEOUT)?.elements() {
        let offset = match element.offset() {
            Offset::Invalid => Offset::Beginning,
            offset => offset,
        };
        consumer.seek(element.topic(), element.partition(), offset, TIMEOUT)?;
    }
    Ok(())
}
