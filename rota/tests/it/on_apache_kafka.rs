//! Rota's parts on Apache Kafka 4.4 (a single-node KRaft cluster from Maven Central's jars), as
//! separate processes the way compose and Kubernetes run them: `rota api` and `rota simulator`
//! with KAFKA_BROKERS, no built-in broker. A ride streams in order and is recorded whole; a
//! simulator and an api killed with SIGKILL mid-ride lose nothing and rewind no vehicle; two
//! simulators share the `simulator` group and the System page shows the members Kafka reports;
//! the broker killed and restarted mid-ride; and the same with KIP-848's consumer group protocol.

use std::time::Duration;

use serde_json::Value;

use crate::common::{self, Split, Ws, apache_kafka::ApacheKafka, eventually, http};

/// The positions of `ride` on `ws` from now until it finishes, checked to go on one by one from
/// `after` (none: from its start): no gap, no repeat, nothing driven again.
async fn rest_of_ride(ws: &mut Ws, ride: &str, after: Option<u64>) -> u64 {
    let rest = ws.positions_until_finished(ride).await;
    let first = after.map_or(0, |seq| seq + 1);
    let seqs = common::seqs(&rest);
    assert_eq!(
        seqs,
        (first..first + seqs.len() as u64).collect::<Vec<_>>(),
        "ride {ride} goes on from {first}, one position at a time"
    );
    assert_eq!(rest.last().unwrap().progress, 1.0);
    first + seqs.len() as u64
}

/// Reads `n` positions of `ride`; returns the last seq.
async fn some_positions(ws: &mut Ws, n: usize) -> u64 {
    let mut last = 0;
    for _ in 0..n {
        last = ws.next_position().await.seq;
    }
    last
}

/// The `simulator` group as the System page shows it.
async fn simulator_group(base: &str) -> Result<Value, String> {
    let (status, system) = http("GET", &format!("{base}/api/system"), None).await?;
    if status != 200 {
        return Err(format!("{status} {system}"));
    }
    system["groups"]
        .as_array()
        .and_then(|groups| {
            groups
                .iter()
                .find(|g| g["name"] == simulator::GROUP)
                .cloned()
        })
        .ok_or_else(|| format!("no simulator group: {system}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_on_apache_kafka_survive_crashes_a_second_simulator_and_a_broker_restart() {
    let mut kafka = ApacheKafka::start().await;
    let split = Split {
        kafka: kafka.addr,
        ..Split::new(Vec::new())
    };
    let base = format!("http://{}", split.http);
    let mut api = split.api().await;
    let first = split.simulator(&[]);
    let mut ws = Ws::connect_to(split.http).await;

    // A ride, end to end.
    let ride = ws.start("2", Some(1_000.0)).await;
    let count = rest_of_ride(&mut ws, &ride, None).await;
    assert_eq!(
        common::recorded_ride(&base, &ride).await["positions"],
        count
    );

    // The simulator killed mid-ride: another takes the ride over after its last position.
    let ride = ws.start_long_ride().await;
    let last = some_positions(&mut ws, 10).await;
    first.kill().await;
    let second = split.simulator(&[]);
    let count = rest_of_ride(&mut ws, &ride, Some(last)).await;
    assert_eq!(
        common::recorded_ride(&base, &ride).await["positions"],
        count
    );

    // The api killed mid-ride: a new one records the ride whole.
    let body = serde_json::json!({"routeId": "3", "speedKmh": 1_000}).to_string();
    let (status, started) = http("POST", &format!("{base}/api/rides"), Some(&body))
        .await
        .unwrap();
    assert_eq!(status, 202, "{started}");
    let ride = started["rideId"].as_str().unwrap().to_owned();
    eventually("the ride drives", Duration::from_secs(30), || async {
        let (_, ride) = http("GET", &format!("{base}/api/rides/{ride}"), None).await?;
        match ride["positions"].as_u64() {
            Some(n) if n >= 10 => Ok(()),
            _ => Err(ride.to_string()),
        }
    })
    .await;
    api.kill().await;
    api = split.api().await;
    ws = Ws::connect_to(split.http).await;
    let recorded = common::recorded_ride(&base, &ride).await;
    assert_eq!(recorded["status"], "finished", "{recorded}");

    // Two simulators share the group: Kafka says who owns what, and the System page shows it.
    let third = split.simulator(&[]);
    let group = eventually(
        "two members own the commands",
        Duration::from_secs(30),
        || async {
            let group = simulator_group(&base).await?;
            let members = group["members"].as_array().cloned().unwrap_or_default();
            let owned: usize = members
                .iter()
                .map(|m| m["assignment"].as_array().map_or(0, Vec::len))
                .sum();
            match (members.len(), owned) {
                (2, 6)
                    if members
                        .iter()
                        .all(|m| m["assignment"].as_array().is_some_and(|a| !a.is_empty())) =>
                {
                    Ok(group)
                }
                _ => Err(group.to_string()),
            }
        },
    )
    .await;
    for member in group["members"].as_array().unwrap() {
        assert_eq!(member["clientId"], "rota", "{group}");
        assert!(
            member["host"].as_str().unwrap().contains("127.0.0.1"),
            "{group}"
        );
    }

    // The broker killed and started again mid-ride: the ride goes on, in order.
    let ride = ws.start_long_ride().await;
    let last = some_positions(&mut ws, 10).await;
    kafka.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    kafka.restart();
    let count = rest_of_ride(&mut ws, &ride, Some(last)).await;
    assert_eq!(
        common::recorded_ride(&base, &ride).await["positions"],
        count
    );

    for part in [second, third, api] {
        part.stop().await;
    }
}

/// KIP-848's consumer group protocol (`group.protocol=consumer`), which Kafka 4 recommends: the
/// broker assigns partitions, incrementally. Two simulators on it share the ride commands (Kafka's
/// own `kafka-consumer-groups` shows both members), a ride streams whole, and when the one driving
/// leaves, the other takes the ride over after its last position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulators_on_the_consumer_group_protocol_of_kip_848() {
    use crate::common::apache_kafka::kafka_tool;

    let kafka = ApacheKafka::shared().await;
    let split = Split {
        kafka: kafka.addr,
        ..Split::new(Vec::new())
    };
    let base = format!("http://{}", split.http);
    let api = split.api().await;
    let protocol = [("KAFKA_GROUP_PROTOCOL", "consumer".to_owned())];
    let first = split.simulator(&protocol);
    let second = split.simulator(&protocol);
    let brokers = kafka.brokers();
    let members = eventually("two members in the group", Duration::from_secs(60), || {
        let mut command = kafka_tool("kafka-consumer-groups");
        command.args([
            "--bootstrap-server",
            &brokers,
            "--describe",
            "--group",
            simulator::GROUP,
            "--members",
        ]);
        async move {
            let output = tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap();
            let said = String::from_utf8_lossy(&output.stdout).into_owned();
            match said.lines().filter(|l| l.starts_with("simulator ")).count() {
                2 => Ok(said),
                _ => Err(said + String::from_utf8_lossy(&output.stderr).as_ref()),
            }
        }
    })
    .await;
    assert!(members.matches("/127.0.0.1").count() == 2, "{members}");

    let mut ws = Ws::connect_to(split.http).await;
    let ride = ws.start_long_ride().await;
    let last = some_positions(&mut ws, 10).await;
    // Whichever drives it, the ride goes on when one of them leaves.
    first.stop().await;
    let count = rest_of_ride(&mut ws, &ride, Some(last)).await;
    assert_eq!(
        common::recorded_ride(&base, &ride).await["positions"],
        count
    );
    second.stop().await;
    api.stop().await;
}

/// rota's example `exactly_once_copy` (a consume-transform-produce loop in Kafka transactions),
/// built beside this test binary (`cargo test --all-targets` builds examples, under hashed names).
fn exactly_once_copy() -> std::process::Command {
    let deps = std::env::current_exe().unwrap();
    let examples = deps.parent().unwrap().parent().unwrap().join("examples");
    let built = std::fs::read_dir(&examples)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("exactly_once_copy") && path.extension().is_none()
        })
        .max_by_key(|path| path.metadata().and_then(|m| m.modified()).ok());
    let path = built.unwrap_or_else(|| {
        panic!(
            "{} holds no exactly_once_copy: it is built with --all-targets",
            examples.display()
        )
    });
    std::process::Command::new(path)
}

/// Every record of `topic`, from its start, as a reader at `isolation` sees it: (key, value).
fn read_all(brokers: &str, topic: &str, isolation: &str) -> Vec<(String, String)> {
    use rdkafka::{
        ClientConfig, Message, Offset, TopicPartitionList,
        consumer::{BaseConsumer, Consumer},
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{isolation}"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        partitions
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&partitions).unwrap();
    let mut records = Vec::new();
    let mut quiet = std::time::Instant::now();
    while quiet.elapsed() < Duration::from_secs(3) {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            records.push((text(message.key()), text(message.payload())));
            quiet = std::time::Instant::now();
        }
    }
    records
}

/// Kafka transactions, shown: a consume-transform-produce loop killed with SIGKILL again and
/// again, then let finish, leaves a `read_committed` reader of its output every input record
/// exactly once, in order per key; a `read_uncommitted` reader also sees what the killed copies
/// wrote and never committed. The built-in broker refuses the loop's transactional producer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_loop_killed_mid_transaction_leaves_no_gap_and_no_duplicate() {
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let kafka = ApacheKafka::shared().await;
    let b = kafka.brokers();
    let config = events::KafkaConfig::new(&b);
    events::ensure_topics(&config, &["copy.in", "copy.out"], 3)
        .await
        .unwrap();
    let producer: FutureProducer = kafka.client_config().create().unwrap();
    let keys = 20;
    let input: Vec<(String, String)> = (0..2_000)
        .map(|i| (format!("ride-{}", i % keys), format!("position {i}")))
        .collect();
    for (key, value) in &input {
        producer
            .send(
                FutureRecord::to("copy.in").key(key).payload(value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }

    let copy = {
        let b = b.clone();
        move || {
            let mut command = exactly_once_copy();
            command
                // A pause after each record written: a kill lands inside a transaction.
                .args([b.as_str(), "copy.in", "copy.out", "copier", "20"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null());
            command.spawn().unwrap()
        }
    };
    for _ in 0..3 {
        let mut running = copy();
        let stdout = running.stdout.take().unwrap();
        // Killed after a few transactions, most likely in the middle of the next one.
        let committed = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter(|line| line.starts_with("committed"))
                .take(3)
                .count()
        })
        .await
        .unwrap();
        assert_eq!(committed, 3, "the copy commits transactions");
        tokio::time::sleep(Duration::from_millis(300)).await;
        running.kill().unwrap();
        running.wait().unwrap();
    }
    let finished = tokio::task::spawn_blocking(move || copy().wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(finished.status.success(), "{finished:?}");

    let expected: Vec<(String, String)> = input
        .iter()
        .map(|(key, value)| (key.clone(), value.to_uppercase()))
        .collect();
    let b2 = b.clone();
    let committed =
        tokio::task::spawn_blocking(move || read_all(&b2, "copy.out", "read_committed"))
            .await
            .unwrap();
    let per_key = |records: &[(String, String)]| {
        let mut by_key: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (key, value) in records {
            by_key.entry(key.clone()).or_default().push(value.clone());
        }
        by_key
    };
    assert_eq!(committed.len(), expected.len(), "no gap, no duplicate");
    assert_eq!(
        per_key(&committed),
        per_key(&expected),
        "each key's records in order"
    );
    let uncommitted =
        tokio::task::spawn_blocking(move || read_all(&b, "copy.out", "read_uncommitted"))
            .await
            .unwrap();
    eprintln!(
        "read_committed: {} records; read_uncommitted: {} (the aborted transactions' too)",
        committed.len(),
        uncommitted.len()
    );
    assert!(
        uncommitted.len() > committed.len(),
        "the killed copies' open transactions wrote records no committed reader sees"
    );

    // The built-in broker refuses a transactional producer at its first request.
    let dir = tempfile::tempdir().unwrap();
    let platform = common::boot(dir.path()).await;
    let brokers = platform.kafka.brokers.clone();
    let refused = tokio::task::spawn_blocking(move || {
        exactly_once_copy()
            .args([brokers.as_str(), "copy.in", "copy.out", "copier"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(said.contains("refuses transactional producers"), "{said}");
    assert!(
        said.contains("Transactional Id authorization failed"),
        "{said}"
    );
    platform.stop().await.unwrap();
}

/// Security on the real thing: Kafka's SASL_SSL listener with SCRAM-SHA-512 and its
/// StandardAuthorizer. The topics and the ACLs of the user `rota` are made as Strimzi makes them
/// from `infra/k8s/base/kafka.yaml` (read from there, not listed again here): with exactly those,
/// `rota api` and `rota simulator` drive a ride and show the System page. A user lacking a group's
/// ACL, and one with none, stop at start-up naming the ACL they lack; a wrong password and a
/// client without TLS and SASL are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_scram_and_acls_each_part_runs_with_only_what_infra_grants_it() {
    use crate::common::{RotaProcess, apache_kafka::kafka_tool, tls::TestCa};

    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let users = [
        ("rota", "rota-s3cret"),
        ("partial", "partial-s3cret"),
        ("stranger", "stranger-s3cret"),
    ];
    let kafka = ApacheKafka::start_secured(&ca, &users).await;
    let b = kafka.brokers();
    let admin = dir.path().join("admin.properties");
    std::fs::write(
        &admin,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"admin\" password=\"admin-secret\";\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n",
            ca.ca.display()
        ),
    )
    .unwrap();
    let as_admin = |tool: &str, args: Vec<String>| {
        let mut command = kafka_tool(tool);
        command
            .args(["--bootstrap-server", &b, "--command-config"])
            .arg(&admin)
            .args(args);
        async move {
            let output = tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    };

    // infra's topics, and its ACLs for `rota`; `partial` gets the topics' ACLs but no group's.
    let mut access = std::process::Command::new(common::python());
    access.args([
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deploy/check.py"),
        "kafka-access",
    ]);
    let access = common::json_output(access, "check.py kafka-access").await;
    assert_eq!(access["user"], "rota");
    for topic in access["topics"].as_array().unwrap() {
        let mut args = vec![
            "--create".to_owned(),
            "--topic".to_owned(),
            topic["name"].as_str().unwrap().to_owned(),
            "--partitions".to_owned(),
            topic["partitions"].to_string(),
        ];
        for (key, value) in topic["config"].as_object().unwrap() {
            args.extend([
                "--config".to_owned(),
                format!("{key}={}", value.as_str().unwrap()),
            ]);
        }
        as_admin("kafka-topics", args).await;
    }
    for acl in access["acls"].as_array().unwrap() {
        let resource = &acl["resource"];
        let kind = resource["type"].as_str().unwrap();
        let pattern = match resource["patternType"].as_str().unwrap() {
            "prefix" => "prefixed",
            other => other,
        };
        let principals: &[&str] = if kind == "topic" {
            &["rota", "partial"]
        } else {
            &["rota"]
        };
        for principal in principals {
            let mut args = vec![
                "--add".to_owned(),
                "--allow-principal".to_owned(),
                format!("User:{principal}"),
            ];
            for operation in acl["operations"].as_array().unwrap() {
                args.extend([
                    "--operation".to_owned(),
                    operation.as_str().unwrap().to_owned(),
                ]);
            }
            args.extend([
                format!("--{kind}"),
                resource["name"].as_str().unwrap().to_owned(),
                "--resource-pattern-type".to_owned(),
                pattern.to_owned(),
            ]);
            as_admin("kafka-acls", args).await;
        }
    }

    let env = |user: &str, password: &str| {
        vec![
            ("KAFKA_BROKERS", b.clone()),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL".to_owned()),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512".to_owned()),
            ("KAFKA_SASL_USERNAME", user.to_owned()),
            ("KAFKA_SASL_PASSWORD", password.to_owned()),
            ("KAFKA_SSL_CA_LOCATION", ca.ca.display().to_string()),
            ("ROTA_SIM_TICK_MS", "20".to_owned()),
            ("ROTA_SIM_SPEED_KMH", common::TEST_SPEED_KMH.to_string()),
        ]
    };
    let data = dir.path().join("api").display().to_string();
    let (api, listener) =
        RotaProcess::serving(&["api", "--data-dir", &data], &env("rota", "rota-s3cret")).await;
    let (simulator, _) = RotaProcess::serving(&["simulator"], &env("rota", "rota-s3cret")).await;
    let base = format!("http://{listener}");
    let ride = common::start_ride(&base, "1").await;
    let recorded = common::recorded_ride(&base, &ride).await;
    assert_eq!(recorded["status"], "finished", "{recorded}");
    let (status, system) = http("GET", &format!("{base}/api/system"), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{system}");
    let groups: Vec<&str> = system["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"simulator") && groups.contains(&"rota-history"),
        "{system}"
    );

    // Without an ACL a part needs, it stops at once, saying which.
    let refused = |args: &'static [&'static str], user: &str, password: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rota"));
        command.args(args).envs(env(user, password));
        async move {
            let output = tokio::time::timeout(
                Duration::from_secs(60),
                tokio::task::spawn_blocking(move || command.output().unwrap()),
            )
            .await
            .expect("a refused part stops by itself")
            .unwrap();
            assert!(!output.status.success());
            String::from_utf8_lossy(&output.stderr).into_owned()
                + String::from_utf8_lossy(&output.stdout).as_ref()
        }
    };
    let said = refused(&["simulator"], "partial", "partial-s3cret").await;
    assert!(
        said.contains("the user needs an ACL allowing Read on group simulator"),
        "{said}"
    );
    let said = refused(&["simulator"], "stranger", "stranger-s3cret").await;
    assert!(
        said.contains("the user needs an ACL allowing Create on topic route."),
        "{said}"
    );
    let said = refused(&["simulator"], "rota", "not-the-password").await;
    assert!(said.contains("refused this client"), "{said}");

    // A client without TLS and SASL learns nothing.
    let plain: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &b)
        .create()
        .unwrap();
    let metadata = tokio::task::spawn_blocking(move || {
        rdkafka::consumer::Consumer::fetch_metadata(&plain, None, Duration::from_secs(3))
            .map(|m| m.topics().len())
    })
    .await
    .unwrap();
    assert!(metadata.is_err(), "{metadata:?}");

    simulator.stop().await;
    api.stop().await;
}
