//! The README's Kafka walk-through with Kafka's own command-line tools (`kafka-topics`,
//! `kafka-console-producer`, `kafka-console-consumer`, `kafka-consumer-groups`, `kafka-configs`,
//! the Apache Kafka 4.4 jars scripts/test-setup fetches), typed as a learner types them, against
//! the built-in broker and against Apache Kafka. Where the built-in broker answers differently, the
//! test says what each answers. At the step that describes a group, `rota kafka groups --describe`
//! and the System page must show the same offsets and lag as `kafka-consumer-groups`.

use std::{
    collections::BTreeMap,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::common::{self, apache_kafka::ApacheKafka, apache_kafka::kafka_tool, eventually, http};

/// Which broker the walk-through runs on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Broker {
    BuiltIn,
    ApacheKafka,
}

const TOPIC: &str = "positions-demo";
const PLAIN_TOPIC: &str = "rides-demo";

/// One of Kafka's tools with `args`, `input` on its standard input; its output.
async fn tool(name: &str, args: &[&str], input: Option<&str>) -> Output {
    let mut command = kafka_tool(name);
    command.args(args);
    let input = input.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the Kafka tool runs");
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

/// What a tool printed, standard output then error.
fn said(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
        + String::from_utf8_lossy(&output.stderr).as_ref()
}

/// The standard output of a tool that must succeed.
fn ok(output: Output, what: &str) -> String {
    assert!(output.status.success(), "{what}: {}", said(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// Rows of a `kafka-consumer-groups --describe` table (Kafka's, or `rota kafka`'s) for `topic`:
/// partition -> (CURRENT-OFFSET, LOG-END-OFFSET, LAG, CONSUMER-ID, HOST, CLIENT-ID).
fn group_table(table: &str, topic: &str) -> BTreeMap<i32, Vec<String>> {
    let mut lines = table.lines().skip_while(|l| !l.starts_with("GROUP"));
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let columns = [
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    .map(|name| column(name).unwrap_or_else(|| panic!("no {name} column: {table}")));
    lines
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.len() == header.len() && cells[1] == topic)
        .map(|cells| {
            let partition = cells[2].parse().unwrap();
            let row = columns.iter().map(|&c| cells[c].to_owned()).collect();
            (partition, row)
        })
        .collect()
}

/// The README's steps against `b`; `base` is an api on the same broker, for the System page.
async fn walk_through(b: &str, base: &str, broker: Broker) {
    let server = ["--bootstrap-server", b];
    let with = |rest: &[&'static str]| -> Vec<&str> {
        server.iter().copied().chain(rest.iter().copied()).collect()
    };

    // A topic with the broker's default partitions, and one with three.
    let created = ok(
        tool(
            "kafka-topics",
            &with(&["--create", "--topic", PLAIN_TOPIC]),
            None,
        )
        .await,
        "create",
    );
    assert_eq!(created.trim(), "Created topic rides-demo.");
    let created = ok(
        tool(
            "kafka-topics",
            &with(&["--create", "--topic", TOPIC, "--partitions", "3"]),
            None,
        )
        .await,
        "create --partitions 3",
    );
    assert_eq!(created.trim(), "Created topic positions-demo.");
    let described = ok(
        tool(
            "kafka-topics",
            &with(&["--describe", "--topic", TOPIC]),
            None,
        )
        .await,
        "describe",
    );
    assert!(described.contains("PartitionCount: 3"), "{described}");
    assert_eq!(
        described.matches("Leader: 1\tReplicas: 1\tIsr: 1").count(),
        3,
        "{described}"
    );

    // Keyed records in; read back from the beginning with their partitions and keys.
    let keyed = [
        "--topic",
        TOPIC,
        "--reader-property",
        "parse.key=true",
        "--reader-property",
        "key.separator=:",
    ];
    let produced = tool(
        "kafka-console-producer",
        &with(&keyed),
        Some("ride-1:first\nride-2:second\nride-1:third\n"),
    )
    .await;
    ok(produced, "console producer");
    let read = ok(
        tool(
            "kafka-console-consumer",
            &with(&[
                "--topic",
                TOPIC,
                "--from-beginning",
                "--formatter-property",
                "print.key=true",
                "--formatter-property",
                "print.partition=true",
                "--max-messages",
                "3",
            ]),
            None,
        )
        .await,
        "console consumer",
    );
    let ride_1: Vec<(&str, &str)> = read
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            (cells.get(1) == Some(&"ride-1")).then(|| (cells[0], cells[2]))
        })
        .collect();
    assert_eq!(read.lines().count(), 3, "{read}");
    assert_eq!(ride_1.len(), 2, "{read}");
    assert_eq!(ride_1[0].0, ride_1[1].0, "one key, one partition: {read}");
    assert_eq!(
        (ride_1[0].1, ride_1[1].1),
        ("first", "third"),
        "in order: {read}"
    );

    // Two groups each read everything: each group has its own offsets.
    for group in ["group1", "group2"] {
        let read = ok(
            tool(
                "kafka-console-consumer",
                &with(&[
                    "--topic",
                    TOPIC,
                    "--group",
                    group,
                    "--from-beginning",
                    "--max-messages",
                    "3",
                ]),
                None,
            )
            .await,
            group,
        );
        assert_eq!(read.lines().count(), 3, "{group}: {read}");
    }
    ok(
        tool(
            "kafka-console-producer",
            &with(&keyed),
            Some("ride-1:fourth\nride-1:fifth\n"),
        )
        .await,
        "producer",
    );

    // group1 is two records behind on ride-1's partition; Kafka's tool, `rota kafka` and the
    // System page say the same.
    let describe = with(&["--describe", "--group", "group1"]);
    let described = tool("kafka-consumer-groups", &describe, None).await;
    assert!(
        said(&described).contains("Consumer group 'group1' has no active members."),
        "{}",
        said(&described)
    );
    let kafka_says = ok(described, "describe group1");
    let kafka_rows = group_table(&kafka_says, TOPIC);
    assert_eq!(kafka_rows.len(), 3, "{kafka_says}");
    let lag: i64 = kafka_rows
        .values()
        .filter_map(|row| row[2].parse::<i64>().ok())
        .sum();
    assert_eq!(lag, 2, "{kafka_says}");
    let rota_says = rota_kafka(b, &["groups", "--describe", "group1"]).await;
    let offsets = |rows: &BTreeMap<i32, Vec<String>>| -> BTreeMap<i32, Vec<String>> {
        rows.iter()
            .map(|(p, row)| (*p, row[..3].to_vec()))
            .collect()
    };
    assert_eq!(
        offsets(&group_table(&rota_says, TOPIC)),
        offsets(&kafka_rows),
        "{rota_says}\n{kafka_says}"
    );
    let system = eventually(
        "the System page shows group1",
        Duration::from_secs(15),
        || async {
            let (_, system) = http("GET", &format!("{base}/api/system"), None).await?;
            let group = system["groups"]
                .as_array()
                .and_then(|groups| groups.iter().find(|g| g["name"] == "group1").cloned())
                .ok_or_else(|| format!("{system}"))?;
            Ok::<Value, String>(group)
        },
    )
    .await;
    let page: BTreeMap<i32, Vec<String>> = system["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["topic"] == TOPIC)
        .map(|o| {
            let text = |v: &Value| v.as_i64().map_or("-".to_owned(), |n| n.to_string());
            let row = vec![
                text(&o["committed"]),
                text(&o["endOffset"]),
                text(&o["lag"]),
            ];
            (o["partition"].as_i64().unwrap() as i32, row)
        })
        .collect();
    assert_eq!(page, offsets(&kafka_rows), "the System page: {system}");

    // A member reading now. Kafka names it in both tables (`--members`, and CONSUMER-ID, HOST and
    // CLIENT-ID per partition); the built-in broker counts it but reports neither its client id,
    // its host nor what it owns, so Kafka's tool lists no member and `-` per partition.
    let mut member = member_of("group1", b);
    eventually(
        "the member joins group1",
        Duration::from_secs(30),
        || async {
            let said = rota_kafka(b, &["groups", "--describe", "group1"]).await;
            match said.contains("Members: 1.") {
                true => Ok(()),
                false => Err(said),
            }
        },
    )
    .await;
    let members = with(&["--describe", "--group", "group1", "--members"]);
    let members = ok(
        tool("kafka-consumer-groups", &members, None).await,
        "--members",
    );
    let table = ok(
        tool("kafka-consumer-groups", &describe, None).await,
        "describe",
    );
    let rows = group_table(&table, TOPIC);
    let listed = members.lines().filter(|l| l.starts_with("group1 ")).count();
    match broker {
        Broker::ApacheKafka => {
            assert_eq!(listed, 1, "{members}");
            assert!(
                members.contains("/127.0.0.1") && members.contains("console-consumer"),
                "{members}"
            );
            assert!(
                rows.values()
                    .all(|row| row[3].starts_with("console-consumer-")
                        && row[4] == "/127.0.0.1"
                        && row[5] == "console-consumer"),
                "{table}"
            );
        }
        Broker::BuiltIn => {
            assert_eq!(listed, 0, "{members}");
            assert!(
                rows.values().all(|row| row[3] == "-" && row[4] == "-"),
                "{table}"
            );
        }
    }
    // Stopped as Ctrl-C stops it: it leaves the group, which is then empty again.
    unsafe { libc::kill(member.id() as i32, libc::SIGTERM) };
    member.wait().unwrap();

    // More partitions: Kafka adds them; the built-in broker has no CreatePartitions.
    let altered = tool(
        "kafka-topics",
        &with(&["--alter", "--topic", TOPIC, "--partitions", "6"]),
        None,
    )
    .await;
    match broker {
        Broker::ApacheKafka => {
            ok(altered, "alter --partitions");
            let described = ok(
                tool(
                    "kafka-topics",
                    &with(&["--describe", "--topic", TOPIC]),
                    None,
                )
                .await,
                "describe",
            );
            assert!(described.contains("PartitionCount: 6"), "{described}");
        }
        Broker::BuiltIn => {
            assert!(!altered.status.success());
            assert!(
                said(&altered).contains("UnsupportedVersionException"),
                "{}",
                said(&altered)
            );
        }
    }

    // Retention, set and shown.
    let entity = ["--entity-type", "topics", "--entity-name", TOPIC];
    let mut alter: Vec<&str> = with(&entity);
    alter.extend(["--alter", "--add-config", "retention.ms=3600000"]);
    let altered = ok(
        tool("kafka-configs", &alter, None).await,
        "kafka-configs --alter",
    );
    assert!(
        altered.contains("Completed updating config for topic positions-demo."),
        "{altered}"
    );
    let mut describe_configs: Vec<&str> = with(&entity);
    describe_configs.push("--describe");
    let configs = ok(
        tool("kafka-configs", &describe_configs, None).await,
        "kafka-configs --describe",
    );
    assert!(configs.contains("retention.ms=3600000"), "{configs}");

    // Back to the start: group1's lag is every record again.
    let reset = with(&[
        "--group",
        "group1",
        "--topic",
        TOPIC,
        "--reset-offsets",
        "--to-earliest",
        "--execute",
    ]);
    let reset = ok(
        tool("kafka-consumer-groups", &reset, None).await,
        "reset-offsets",
    );
    assert!(reset.contains("NEW-OFFSET"), "{reset}");
    let table = ok(
        tool("kafka-consumer-groups", &describe, None).await,
        "describe",
    );
    let lag: i64 = group_table(&table, TOPIC)
        .values()
        .filter_map(|row| row[2].parse::<i64>().ok())
        .sum();
    assert_eq!(lag, 5, "{table}");

    // And the plain topic goes.
    ok(
        tool(
            "kafka-topics",
            &with(&["--delete", "--topic", PLAIN_TOPIC]),
            None,
        )
        .await,
        "delete",
    );
    let listed = ok(tool("kafka-topics", &with(&["--list"]), None).await, "list");
    assert!(!listed.lines().any(|t| t == PLAIN_TOPIC), "{listed}");
}

/// `rota kafka ARGS` against `b`: what it printed (it must succeed). Off the async threads: the
/// broker may be in this process.
async fn rota_kafka(b: &str, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rota"));
    command.args(["kafka", "--kafka-brokers", b]).args(args);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    ok(output, "rota kafka")
}

/// A console consumer reading `TOPIC` in `group` until killed.
fn member_of(group: &str, b: &str) -> Child {
    kafka_tool("kafka-console-consumer")
        .args(["--bootstrap-server", b, "--topic", TOPIC, "--group", group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_cli_walk_through_on_the_built_in_broker() {
    let dir = tempfile::tempdir().unwrap();
    let platform = common::boot(dir.path()).await;
    walk_through(
        &platform.kafka.brokers,
        &common::base_url(&platform),
        Broker::BuiltIn,
    )
    .await;
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_cli_walk_through_on_apache_kafka() {
    let kafka = ApacheKafka::start().await;
    let dir = tempfile::tempdir().unwrap();
    let platform = common::boot_with(common::on_kafka(&kafka.brokers(), dir.path())).await;
    walk_through(
        &kafka.brokers(),
        &common::base_url(&platform),
        Broker::ApacheKafka,
    )
    .await;
    platform.stop().await.unwrap();
}
