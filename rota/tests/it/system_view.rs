//! The System view (`GET /api/system`, its records and rides, and `rota kafka`) against the
//! built-in broker, checked with records, offsets and members made by confluent-kafka: it must
//! report exactly those end offsets, committed offsets, lags and members, show a second member of
//! a group take partitions, and say clearly what it cannot read.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout},
};

use crate::common::{self, base_url, eventually, http};

const TOPIC: &str = "system-known";
const GROUP: &str = "system-known-readers";

fn peer_script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/system_peer.py").to_owned()
}

/// `system_peer.py ARGS`, which must succeed.
async fn peer(args: &[&str]) -> Value {
    let mut command = std::process::Command::new(common::python());
    command.arg(peer_script()).args(args);
    common::json_output(command, &format!("system_peer.py {}", args[0])).await
}

/// A confluent-kafka consumer in `group`, running until dropped or [`Member::leave`].
struct Member {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Member {
    async fn join(brokers: &str, topic: &str, group: &str) -> Self {
        let mut child = tokio::process::Command::new(common::python())
            .arg(peer_script())
            .args(["member", brokers, topic, group])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the member starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The partitions of its next assignment.
    async fn assigned(&mut self) -> Vec<i64> {
        let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("an assignment within 60 s")
            .unwrap()
            .expect("the member is running");
        let line: Value = serde_json::from_str(&line).unwrap();
        serde_json::from_value(line["assigned"].clone()).unwrap()
    }

    async fn leave(mut self) {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        assert!(status.expect("leaves within 30 s").unwrap().success());
    }
}

async fn system(base: &str) -> Value {
    let (status, body) = http("GET", &format!("{base}/api/system"), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn named<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|item| item["name"] == name)
}

/// `rota kafka ARGS` against `brokers`: (success, stdout, stderr).
async fn rota_kafka(brokers: &str, args: &[&str]) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rota"));
    command
        .args(["kafka", "--kafka-brokers", brokers])
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_view_reports_what_an_independent_client_wrote_and_committed() {
    let dir = tempfile::tempdir().unwrap();
    let platform = common::boot(dir.path()).await;
    let base = base_url(&platform);
    let brokers = platform.kafka.brokers.clone();
    peer(&["make", &brokers, TOPIC, GROUP]).await;

    // End offsets, committed offsets and lag, exactly; no lag where nothing was committed.
    let found = eventually("the known group is listed", Duration::from_secs(10), || {
        let base = base.clone();
        async move {
            let system = system(&base).await;
            named(&system["groups"], GROUP)
                .map(|_| system.clone())
                .ok_or(system)
        }
    })
    .await;
    assert_eq!(found["builtIn"], true);
    assert_eq!(found["clusterId"], "rota");
    assert_eq!(found["brokers"].as_array().unwrap().len(), 1);
    let topic = named(&found["topics"], TOPIC).unwrap();
    let ends: Vec<&Value> = topic["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["endOffset"])
        .collect();
    assert_eq!(ends, [&json!(10), &json!(4), &json!(0)]);
    assert_eq!(topic["writtenBy"], Value::Null, "not one of Rota's topics");
    let group = named(&found["groups"], GROUP).unwrap();
    let offsets: Vec<(i64, Value, i64, Value)> = group["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["topic"] == TOPIC)
        .map(|o| {
            (
                o["partition"].as_i64().unwrap(),
                o["committed"].clone(),
                o["endOffset"].as_i64().unwrap(),
                o["lag"].clone(),
            )
        })
        .collect();
    assert_eq!(
        offsets,
        [
            (0, json!(7), 10, json!(3)),
            (1, json!(4), 4, json!(0)),
            (2, Value::Null, 0, Value::Null),
        ]
    );
    assert_eq!(group["totalLag"], 3);

    // The CLI says the same, in kafka-consumer-groups' columns.
    let (ok, table, error) = rota_kafka(&brokers, &["groups", "--describe", GROUP]).await;
    assert!(ok, "{error}");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.get(1) == Some(&TOPIC))
        .collect();
    let columns: Vec<&[&str]> = rows.iter().map(|r| &r[2..6]).collect();
    assert_eq!(
        columns,
        [
            &["0", "7", "10", "3"][..],
            &["1", "4", "4", "0"],
            &["2", "-", "0", "-"]
        ],
        "{table}"
    );

    // The newest records of one key: partition, offset, key, headers and JSON value.
    let url = format!("{base}/api/system/topics/{TOPIC}/records?key=k-3");
    let (status, records) = http("GET", &url, None).await.unwrap();
    assert_eq!(status, 200, "{records}");
    assert_eq!(
        records,
        json!([{
            "partition": 0, "offset": 3, "key": "k-3",
            "timestamp": records[0]["timestamp"],
            "headers": [{"key": "n", "value": "3"}],
            "value": {"i": 3},
        }])
    );
    assert!(records[0]["timestamp"].as_i64().unwrap() > 0);
    let url = format!("{base}/api/system/topics/{TOPIC}/records?limit=5");
    let (_, newest) = http("GET", &url, None).await.unwrap();
    assert_eq!(newest.as_array().unwrap().len(), 5, "{newest}");
    let (status, body) = http(
        "GET",
        &format!("{base}/api/system/topics/nope/records"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("topic \"nope\" not found"))
    );
    let (status, body) = http("GET", &format!("{url}0000"), None).await.unwrap();
    assert_eq!((status, &body["detail"]), (400, &json!({"field": "limit"})));

    // A member joins: the built-in broker reports its id (the client id, then a unique part), but
    // neither its client id and host apart nor its assignment.
    let mut member = Member::join(&brokers, TOPIC, GROUP).await;
    assert_eq!(member.assigned().await, [0, 1, 2]);
    let joined = eventually("the member is shown", Duration::from_secs(15), || {
        let base = base.clone();
        async move {
            let system = system(&base).await;
            let group = named(&system["groups"], GROUP).cloned().unwrap_or_default();
            match group["members"].as_array() {
                Some(members) if members.len() == 1 => Ok(group),
                _ => Err(group),
            }
        }
    })
    .await;
    let shown = &joined["members"][0];
    assert!(
        shown["id"].as_str().unwrap().starts_with("system-peer-"),
        "{shown}"
    );
    assert_eq!(
        (&shown["clientId"], &shown["host"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        (&shown["assignment"], &joined["assignmentsReported"]),
        (&Value::Null, &json!(false)),
        "the built-in broker does not report assignments: {joined}"
    );
    member.leave().await;

    // Unknowns are errors that say so.
    let (ok, _, error) = rota_kafka(&brokers, &["groups", "--describe", "never-was"]).await;
    assert!(
        !ok && error.contains("consumer group 'never-was' does not exist"),
        "{error}"
    );
    let (ok, _, error) = rota_kafka(&brokers, &["topics", "never-was"]).await;
    assert!(
        !ok && error.contains("topic never-was does not exist"),
        "{error}"
    );

    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_simulator_takes_partitions_and_the_view_shows_the_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let platform = common::boot(dir.path()).await;
    let base = base_url(&platform);
    let brokers = platform.kafka.brokers.clone();

    // This process's own simulator owns every command partition.
    let simulator = |system: &Value| named(&system["groups"], "simulator").cloned();
    let local = |group: &Value| group["localMembers"][0].clone();
    let alone = eventually(
        "the simulator owns all 3 partitions",
        Duration::from_secs(20),
        || {
            let base = base.clone();
            async move {
                let group = simulator(&system(&base).await).unwrap_or_default();
                match local(&group)["assignment"].as_array() {
                    Some(a) if a.len() == 3 => Ok(group),
                    _ => Err(group),
                }
            }
        },
    )
    .await;
    let first_rebalance = alone["lastRebalanceAt"].as_i64().unwrap();

    // A second simulator, with its own consumer, joins the group: ours keeps fewer partitions.
    let mut second = rota::platform::PlatformConfig::external(brokers.clone());
    second.partitions = common::TEST_PARTITIONS;
    second.simulator = common::config(dir.path()).simulator;
    let second = rota::platform::Platform::start(second).await.unwrap();
    let shared = eventually("the partitions are shared", Duration::from_secs(30), || {
        let base = base.clone();
        async move {
            let group = simulator(&system(&base).await).unwrap_or_default();
            match local(&group)["assignment"].as_array() {
                Some(a) if !a.is_empty() && a.len() < 3 => Ok(group),
                _ => Err(group),
            }
        }
    })
    .await;
    assert!(shared["lastRebalanceAt"].as_i64().unwrap() > first_rebalance);
    assert!(local(&shared)["rebalances"].as_u64().unwrap() >= 2);
    assert_eq!(
        shared["members"].as_array().unwrap().len(),
        2,
        "both members, as the broker reports them: {shared}"
    );

    // It stops: ours takes every partition back.
    second.stop().await.unwrap();
    eventually("the partitions come back", Duration::from_secs(30), || {
        let base = base.clone();
        async move {
            let group = simulator(&system(&base).await).unwrap_or_default();
            match local(&group)["assignment"].as_array() {
                Some(a) if a.len() == 3 => Ok(()),
                _ => Err(group),
            }
        }
    })
    .await;
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ride_is_found_on_its_partition_and_the_view_is_read_once_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let platform = common::boot(dir.path()).await;
    let base = base_url(&platform);
    let mut socket = common::Ws::connect(&platform).await;
    let ride = socket.start_long_ride().await;
    socket.watch(&ride).await;
    socket.next_position().await;

    let url = format!("{base}/api/system/rides/{ride}");
    let (status, found) = http("GET", &url, None).await.unwrap();
    assert_eq!(status, 200, "{found}");
    let partition = found["partition"].as_i64().unwrap();
    // Every record of the ride's key is on that partition, in seq order.
    let url = format!(
        "{base}/api/system/topics/{}/records?key={ride}",
        events::TOPIC_NEW_POSITION
    );
    let (_, records) = http("GET", &url, None).await.unwrap();
    let records = records.as_array().unwrap();
    assert!(!records.is_empty());
    assert!(
        records
            .iter()
            .all(|r| r["partition"] == partition && r["key"] == ride.as_str())
    );
    let seqs: Vec<u64> = records
        .iter()
        .map(|r| r["value"]["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let view = system(&base).await;
    let positions = named(&view["topics"], events::TOPIC_NEW_POSITION).unwrap();
    assert_eq!(positions["writtenBy"], "simulator");
    let listed = &positions["rides"][partition as usize]["listed"];
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rideId"] == ride.as_str()),
        "{listed}"
    );
    let (status, _) = http("GET", &format!("{base}/api/system/rides/nope"), None)
        .await
        .unwrap();
    assert_eq!(status, 404);

    // A new key's tail scans the topic: one caller gets a few at once, then one a second; a key
    // already followed is answered from what the api's reader keeps, however often.
    let tail = |key: String| {
        let url = format!(
            "{base}/api/system/topics/{}/records?key={key}",
            events::TOPIC_NEW_POSITION
        );
        async move { common::http_with("GET", &url, &[], None).await.unwrap() }
    };
    let burst = api::system::SCANS.burst as usize;
    let answered =
        futures::future::join_all((0..2 * burst).map(|i| tail(format!("made-up-{i}")))).await;
    let (refused, scanned): (Vec<_>, Vec<_>) = answered
        .into_iter()
        .partition(|(status, _, _)| *status == 429);
    assert!(
        !refused.is_empty() && scanned.len() <= burst + 1,
        "{} scanned",
        scanned.len()
    );
    assert!(scanned.iter().all(|(status, _, _)| *status == 200));
    for (_, headers, body) in refused {
        assert_eq!(body["detail"]["limit"], "scans", "{body}");
        assert!(headers.contains_key("retry-after"));
    }
    assert_eq!(
        tail(ride.clone()).await.0,
        200,
        "the ride's key is followed already"
    );

    // Three pages asking as fast as they can share one read a second.
    let reads = || async { common::scrape(&base).await["rota_system_reads_total"] };
    let before = reads().await;
    let started = std::time::Instant::now();
    let pollers = (0..3).map(|_| {
        let base = base.clone();
        tokio::spawn(async move {
            let mut asked = 0;
            while started.elapsed() < Duration::from_secs(3) {
                system(&base).await;
                asked += 1;
            }
            asked
        })
    });
    let mut asked = 0;
    for poller in pollers.collect::<Vec<_>>() {
        asked += poller.await.unwrap();
    }
    let made = reads().await - before;
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        made <= seconds.ceil() + 1.0 && asked as f64 > made,
        "{made} reads for {asked} requests in {seconds:.1} s"
    );
    http("DELETE", &format!("{base}/api/rides/{ride}"), None)
        .await
        .unwrap();
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_a_clear_error_not_a_crash() {
    let nowhere = common::free_port().to_string();
    let view = api::system::SystemView::new(
        events::KafkaConfig::new(nowhere.clone()),
        std::sync::Arc::new(api::hub::Hub::new(16, api::SOCKET_QUEUE_BYTES)),
        Vec::new(),
    );
    let error = view.read().await.expect_err("nothing answers");
    assert!(error.0.contains("Metadata failed"), "{error}");
    let (ok, _, error) = rota_kafka(&nowhere, &["groups"]).await;
    assert!(!ok && error.contains("ListGroups failed"), "{error}");
}

/// The CONSUMER-ID and CLIENT-ID of each partition of [`TOPIC`], from `rota kafka groups
/// --describe`, once every partition has an owner.
async fn owners(brokers: &str) -> Vec<(String, String)> {
    eventually(
        "every partition has an owner",
        Duration::from_secs(30),
        || async {
            let (ok, table, error) = rota_kafka(brokers, &["groups", "--describe", GROUP]).await;
            assert!(ok, "{error}");
            let owners: Vec<(String, String)> = table
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .filter(|cells| cells.get(1) == Some(&TOPIC) && cells.len() == 9)
                .map(|cells| (cells[6].to_owned(), cells[8].to_owned()))
                .collect();
            match owners.len() == 3 && owners.iter().all(|(id, _)| id != "-") {
                true => Ok(owners),
                false => Err(table),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_broker_reports_assignments_a_second_member_is_seen_taking_partitions() {
    let kafka = common::apache_kafka::ApacheKafka::shared().await;
    let brokers = kafka.brokers();
    peer(&["make", &brokers, TOPIC, GROUP]).await;

    let mut first = Member::join(&brokers, TOPIC, GROUP).await;
    assert_eq!(first.assigned().await, [0, 1, 2]);
    let alone = owners(&brokers).await;
    assert!(
        alone
            .iter()
            .all(|owner| owner == &alone[0] && owner.1 == "system-peer"),
        "{alone:?}"
    );

    // A second member joins: the partitions are split between the two, as the broker says.
    let mut second = Member::join(&brokers, TOPIC, GROUP).await;
    let mut split = second.assigned().await;
    split.extend(loop {
        let now = first.assigned().await;
        if now.len() < 3 {
            break now;
        }
    });
    split.sort();
    assert_eq!(split, [0, 1, 2], "each partition to one of them");
    let shared = eventually(
        "two owners are reported",
        Duration::from_secs(30),
        || async {
            let owners = owners(&brokers).await;
            let mut ids: Vec<&String> = owners.iter().map(|(id, _)| id).collect();
            ids.sort();
            ids.dedup();
            match ids.len() {
                2 => Ok(owners),
                _ => Err(format!("{owners:?}")),
            }
        },
    )
    .await;
    assert!(shared.iter().all(|(_, client)| client == "system-peer"));
    second.leave().await;
    first.leave().await;
}
