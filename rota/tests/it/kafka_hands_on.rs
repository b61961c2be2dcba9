//! The README's "Kafka, hands-on" walk-through, step by step, with the tools it names: `rota kafka`
//! for what Kafka's own CLI does, kcat to produce and consume, and the README's confluent-kafka
//! script to read in a consumer group. On the built-in broker the steps it cannot do (adding
//! partitions, default configs) say so by name; on Apache Kafka the same steps work.

use std::process::{Command, Output, Stdio};

use crate::common::{self, apache_kafka::ApacheKafka};

const TOPIC: &str = "hands-on";
const GROUP: &str = "hands-on-readers";

/// `rota kafka ARGS` against `brokers`.
async fn rota_kafka(brokers: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rota"));
    command
        .args(["kafka", "--kafka-brokers", brokers])
        .args(args);
    run(command, None).await
}

/// Runs `command` off the async threads (the broker may be in this process), with `input`.
async fn run(mut command: Command, input: Option<&str>) -> Output {
    let input = input.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the command runs");
        let mut stdin = child.stdin.take().unwrap();
        if let Some(input) = input {
            std::io::Write::write_all(&mut stdin, input.as_bytes()).unwrap();
        }
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// The standard output of a command that must succeed.
fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The error of a command that must fail.
fn refused(output: Output, what: &str) -> String {
    assert!(!output.status.success(), "{what} must fail");
    String::from_utf8(output.stderr).unwrap()
}

fn kcat(brokers: &str, args: &[&str]) -> Command {
    let mut command = Command::new("kcat");
    command.args(["-b", brokers]).args(args);
    command
}

/// The rows of `rota kafka groups --describe` for `topic`, by column name.
fn group_rows(table: &str, topic: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = table.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    lines
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|cells| cells.len() == header.len() && cells[1] == topic)
        .map(|cells| header.iter().cloned().zip(cells).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walk_through_on_the_built_in_broker() {
    let dir = tempfile::tempdir().unwrap();
    let platform = common::boot(dir.path()).await;
    let b = platform.kafka.brokers.clone();
    let b = b.as_str();

    // Create a topic with three partitions and describe it.
    let created = ok(
        rota_kafka(b, &["create", TOPIC, "--partitions", "3"]).await,
        "create",
    );
    assert_eq!(created, "Created topic hands-on.\n");
    let described = ok(rota_kafka(b, &["topics", TOPIC]).await, "topics");
    assert!(described.contains("PartitionCount: 3"), "{described}");
    assert_eq!(described.matches("EndOffset: 0").count(), 3, "{described}");

    // Produce keyed records with kcat, and read them back with partition, offset and key.
    let records = "ride-1:first\nride-2:second\nride-1:third\n";
    let produce = kcat(b, &["-t", TOPIC, "-K:", "-P"]);
    ok(run(produce, Some(records)).await, "kcat -P");
    let consume = kcat(b, &["-t", TOPIC, "-C", "-e", "-q", "-f", "%p %o %k %s\\n"]);
    let read = ok(run(consume, None).await, "kcat -C");
    let mut ride_1: Vec<(&str, &str)> = Vec::new();
    for line in read.lines() {
        let cells: Vec<&str> = line.split(' ').collect();
        if cells[2] == "ride-1" {
            ride_1.push((cells[0], cells[3]));
        }
    }
    assert_eq!(read.lines().count(), 3, "{read}");
    assert_eq!(ride_1.len(), 2, "{read}");
    assert_eq!(ride_1[0].0, ride_1[1].0, "one key, one partition: {read}");
    assert_eq!((ride_1[0].1, ride_1[1].1), ("first", "third"), "in order");

    // Read all three in a group, which commits; then two more records arrive: lag 2.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/hands-on/group_read.py"
    );
    let mut group_read = Command::new(common::python());
    group_read.args([script, b, TOPIC, GROUP, "3"]);
    let lines = ok(run(group_read, None).await, "group_read.py");
    assert_eq!(lines.lines().count(), 3, "{lines}");
    let produce = kcat(b, &["-t", TOPIC, "-K:", "-P"]);
    ok(
        run(produce, Some("ride-1:fourth\nride-1:fifth\n")).await,
        "kcat -P",
    );

    let groups = ok(rota_kafka(b, &["groups"]).await, "groups");
    assert!(groups.lines().any(|l| l.starts_with(GROUP)), "{groups}");
    let table = ok(
        rota_kafka(b, &["groups", "--describe", GROUP]).await,
        "describe",
    );
    let rows = group_rows(&table, TOPIC);
    assert_eq!(rows.len(), 3, "every partition of the topic: {table}");
    let number = |row: &std::collections::HashMap<String, String>, column: &str| -> i64 {
        row[column]
            .parse()
            .unwrap_or_else(|_| panic!("{column}: {table}"))
    };
    let mut lag = 0;
    for row in &rows {
        if row["CURRENT-OFFSET"] == "-" {
            // Nothing committed there (no record was): no lag is made up.
            assert_eq!(
                (row["LAG"].as_str(), number(row, "LOG-END-OFFSET")),
                ("-", 0)
            );
            continue;
        }
        assert_eq!(
            number(row, "CURRENT-OFFSET") + number(row, "LAG"),
            number(row, "LOG-END-OFFSET"),
            "{table}"
        );
        lag += number(row, "LAG");
    }
    assert_eq!(lag, 2, "the two records after the commit: {table}");

    // The platform's own groups: the simulator committed a finished ride's command.
    let base = common::base_url(&platform);
    let ride = common::start_ride(&base, "1").await;
    common::recorded_ride(&base, &ride).await;
    let table = ok(
        rota_kafka(b, &["groups", "--describe", "simulator"]).await,
        "describe",
    );
    let rows = group_rows(&table, events::TOPIC_NEW_DIRECTION);
    assert!(
        rows.iter().any(|row| row["CURRENT-OFFSET"] == "1"),
        "the ride's command is committed: {table}"
    );
    assert!(
        table.contains("State: Stable. Members: 1.")
            && table.contains("(assignments are not reported by the built-in broker)"),
        "the one simulator, and what the built-in broker does not report: {table}"
    );

    // What the built-in broker cannot do says so.
    let error = refused(
        rota_kafka(b, &["add-partitions", TOPIC, "--partitions", "6"]).await,
        "add-partitions",
    );
    assert!(
        error.contains("not supported by the built-in broker"),
        "{error}"
    );
    let configs = ok(rota_kafka(b, &["configs", TOPIC]).await, "configs");
    assert!(
        configs.contains("default values are not reported by the built-in broker"),
        "{configs}"
    );
    // Retention, set and shown.
    let set = rota_kafka(b, &["configs", TOPIC, "--set", "retention.ms=3600000"]).await;
    let configs = ok(set, "configs --set");
    assert!(
        configs.contains("retention.ms=3600000  (set on the topic)"),
        "{configs}"
    );
    let described = ok(rota_kafka(b, &["topics", TOPIC]).await, "topics");
    assert!(
        described.contains("Configs: retention.ms=3600000"),
        "{described}"
    );

    // A tail of the topic from its start, then delete it.
    let tail = rota_kafka(b, &["tail", TOPIC, "--from-beginning", "--max", "5"]).await;
    let tail = ok(tail, "tail");
    assert_eq!(tail.matches("Partition:").count(), 5, "{tail}");
    assert!(tail.contains("Key:ride-2"), "{tail}");
    let one_key = [
        "tail",
        TOPIC,
        "--from-beginning",
        "--key",
        "ride-1",
        "--max",
        "4",
    ];
    let tail = ok(rota_kafka(b, &one_key).await, "tail --key");
    assert_eq!(tail.matches("Key:ride-1\t").count(), 4, "{tail}");
    assert_eq!(tail.matches("Partition:").count(), 4, "{tail}");
    let deleted = ok(rota_kafka(b, &["delete", TOPIC]).await, "delete");
    assert_eq!(deleted, "Deleted topic hands-on.\n");
    let topics = ok(rota_kafka(b, &["topics"]).await, "topics");
    assert!(!topics.contains("Topic: hands-on\t"), "{topics}");

    // The platform's compacted topic, as created.
    let progress = events::TOPIC_RIDE_PROGRESS;
    let configs = ok(rota_kafka(b, &["configs", progress]).await, "configs");
    assert!(
        configs.contains("cleanup.policy=compact  (set on the topic)"),
        "{configs}"
    );

    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steps_the_built_in_broker_lacks_work_on_apache_kafka() {
    let kafka = ApacheKafka::shared().await;
    let b = kafka.brokers();
    let b = b.as_str();
    ok(
        rota_kafka(b, &["create", TOPIC, "--partitions", "3"]).await,
        "create",
    );
    let added = rota_kafka(b, &["add-partitions", TOPIC, "--partitions", "6"]).await;
    assert_eq!(
        ok(added, "add-partitions"),
        "Topic hands-on now has 6 partitions.\n"
    );
    let described = ok(rota_kafka(b, &["topics", TOPIC]).await, "topics");
    assert!(described.contains("PartitionCount: 6"), "{described}");
    let configs = ok(rota_kafka(b, &["configs", TOPIC]).await, "configs");
    assert!(
        configs.contains("retention.ms=604800000  (default)"),
        "{configs}"
    );
}
