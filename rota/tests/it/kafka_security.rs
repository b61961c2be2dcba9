//! Kafka over TLS with SASL/SCRAM, as managed Kafka runs it: `rota broker` with a certificate and a
//! users file serves `rota api` and `rota simulator`, which log in with `KAFKA_*` settings
//! (SASL_SSL, SCRAM-SHA-512, a CA file), a ride end to end; confluent-kafka (SCRAM-SHA-256) and
//! kafka-python (SCRAM-SHA-512) read it too, while a wrong password and a plaintext client are
//! refused. A Rota part with a wrong password fails its start-up at once, naming the mechanism; no
//! password reaches any log.

use std::{process::Command, time::Duration};

use serde_json::Value;

use crate::common::{self, RotaProcess, free_port, tls::TestCa};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rota_and_other_clients_use_the_built_in_broker_over_tls_with_scram() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (password, reader_password) = ("rota-s3cret-pw", "reader-s3cret-pw");
    let users = dir.path().join("users");
    std::fs::write(
        &users,
        format!("rota:{password}\nreader:{reader_password}\n"),
    )
    .unwrap();
    let kafka = free_port();
    let path = |p: &std::path::Path| p.display().to_string();
    let client = |password: &str| {
        vec![
            ("KAFKA_BROKERS", kafka.to_string()),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL".to_owned()),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512".to_owned()),
            ("KAFKA_SASL_USERNAME", "rota".to_owned()),
            ("KAFKA_SASL_PASSWORD", password.to_owned()),
            ("KAFKA_SSL_CA_LOCATION", path(&ca.ca)),
            ("RUST_LOG", "debug".to_owned()),
        ]
    };
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let data = |name: &str| path(&dir.path().join(name));
    let broker_args = [
        "broker",
        "--kafka-listen",
        &kafka.to_string(),
        "--data-dir",
        &data("broker"),
        "--kafka-tls-cert",
        &path(&ca.cert),
        "--kafka-tls-key",
        &path(&ca.key),
        "--kafka-users-file",
        &path(&users),
    ];
    let env = client(password);
    let broker = RotaProcess::start_logged(&broker_args, &env, &log("broker"), kafka).await;
    let api_args = ["api", "--data-dir", &data("api")];
    let (api, http) = RotaProcess::serving_logged(&api_args, &env, &log("api")).await;
    let mut sim_env = env.clone();
    sim_env.push(("ROTA_SIM_TICK_MS", "20".to_owned()));
    sim_env.push(("ROTA_SIM_SPEED_KMH", common::TEST_SPEED_KMH.to_string()));
    let (simulator, _) =
        RotaProcess::serving_logged(&["simulator"], &sim_env, &log("simulator")).await;

    let base = format!("http://{http}");
    let ride = common::start_ride(&base, "2").await;
    let recorded = common::recorded_ride(&base, &ride).await;
    let positions = recorded["positions"].as_u64().unwrap();
    assert!(positions > 1, "{recorded}");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka_secure.py");
    let mut clients = Command::new(common::python());
    let brokers = kafka.to_string();
    clients.args([
        script,
        &brokers,
        &path(&ca.ca),
        "reader",
        reader_password,
        &ride,
    ]);
    let seen = common::json_output(clients, "the secure Kafka clients (kafka_secure.py)").await;
    let all: Vec<u64> = (0..positions).collect();
    for name in ["confluent-kafka", "kafka-python"] {
        let client = &seen[name];
        let seqs: Vec<u64> = client["seqs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs, all,
            "{name} read the ride over TLS with SCRAM: {client}"
        );
    }
    let refused = seen["wrong-password"]["errors"].to_string();
    assert!(refused.contains("SASL authentication error"), "{refused}");
    assert_eq!(
        seen["wrong-password"]["seqs"],
        Value::from(Vec::<u64>::new())
    );
    assert_eq!(
        seen["plaintext"]["seqs"],
        Value::from(Vec::<u64>::new()),
        "{seen}"
    );

    // A part with a wrong password stops at start-up, saying why, within seconds.
    let wrong = "not-the-pw-at-all";
    let started = std::time::Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_rota"))
            .arg("simulator")
            .envs(client(wrong))
            .output(),
    )
    .await
    .expect("a refused login ends the start-up, not a wait")
    .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr).into_owned()
        + String::from_utf8_lossy(&output.stdout).as_ref();
    assert!(said.contains("refused this client"), "{said}");
    assert!(said.contains("sasl.mechanism SCRAM-SHA-512"), "{said}");
    assert!(said.contains("sasl.username \"rota\""), "{said}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    for part in [simulator, api, broker] {
        part.stop().await;
    }
    for name in ["broker", "api", "simulator"] {
        let logged = std::fs::read_to_string(log(name)).unwrap();
        assert!(!logged.is_empty(), "{name} logged");
        for secret in [password, reader_password, wrong] {
            assert!(!logged.contains(secret), "{name}'s log holds a password");
        }
    }
    assert!(!said.contains(wrong), "the refusal shows the password");
    let broker_log = std::fs::read_to_string(log("broker")).unwrap();
    assert!(broker_log.contains("TLS, SASL/SCRAM"), "{broker_log}");
}

/// With sign-in on, the built-in broker is no way around it: an anonymous Kafka client can neither
/// start a ride nor delete a topic, while Rota's own parts log in by themselves and a learner's
/// tools use the login written in the data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sign_in_on_the_built_in_broker_admits_no_anonymous_client() {
    use rdkafka::{
        ClientConfig,
        admin::{AdminClient, AdminOptions},
        client::DefaultClientContext,
        producer::{FutureProducer, FutureRecord},
    };

    let dir = tempfile::tempdir().unwrap();
    let tokens = common::Tokens::generate();
    let mut config = common::config(dir.path());
    config.api.as_mut().unwrap().auth.tokens = tokens.set.clone();
    let platform = common::boot_with(config).await;
    let brokers = platform.kafka.brokers.clone();
    let base = common::base_url(&platform);

    let anonymous = |extra: &[(&str, &str)]| {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &brokers)
            .set("message.timeout.ms", "5000")
            .set("socket.timeout.ms", "5000");
        for (key, value) in extra {
            config.set(*key, *value);
        }
        config
    };
    let forged = serde_json::json!({"routeId": "1", "rideId": "forged", "clientId": "x"});
    let producer: FutureProducer = anonymous(&[]).create().unwrap();
    let sent = producer
        .send(
            FutureRecord::to(events::TOPIC_NEW_DIRECTION)
                .key("forged")
                .payload(&forged.to_string()),
            Duration::from_secs(10),
        )
        .await;
    assert!(sent.is_err(), "an anonymous producer wrote a ride command");
    let admin: AdminClient<DefaultClientContext> = anonymous(&[]).create().unwrap();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    let deleted = admin
        .delete_topics(&[events::TOPIC_NEW_POSITION], &options)
        .await;
    assert!(
        deleted.is_err() || deleted.as_ref().unwrap().iter().all(Result::is_err),
        "an anonymous client deleted a topic: {deleted:?}"
    );

    // Rota's parts logged in by themselves: a ride drives and is recorded.
    let auth = common::bearer(&tokens.operator);
    let (status, _, started) = common::http_with(
        "POST",
        &format!("{base}/api/rides"),
        &[("content-type", "application/json"), (auth.0, &auth.1)],
        Some(r#"{"routeId": "2"}"#),
    )
    .await
    .unwrap();
    assert_eq!(status, 202, "{started}");
    let ride = started["rideId"].as_str().unwrap();
    let recorded = common::recorded_ride(&base, ride).await;
    assert!(recorded["positions"].as_u64().unwrap() > 1, "{recorded}");
    let (status, _) = common::http("GET", &format!("{base}/api/rides/forged"), None)
        .await
        .unwrap();
    assert_eq!(status, 404, "the forged command started nothing");

    // A client with the data directory's login reads the ride, and so does `rota kafka`.
    let login = rota::broker::login::read_settings(dir.path())
        .unwrap()
        .expect("the login is written in the data directory");
    let extra: Vec<(&str, &str)> = login
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let producer: FutureProducer = anonymous(&extra).create().unwrap();
    producer
        .send(
            FutureRecord::to("learner.topic").key("k").payload("v"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("a logged-in client writes");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rota"))
        .args(["kafka", "--kafka-brokers", &brokers, "--data-dir"])
        .arg(dir.path())
        .args(["groups", "--describe", api::recorder::HISTORY_GROUP])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains(events::TOPIC_NEW_POSITION), "{said}");
    let java = std::fs::read_to_string(dir.path().join(rota::broker::login::JAVA_FILE)).unwrap();
    assert!(java.contains("ScramLoginModule required username=\"rota\""));
    platform.stop().await.unwrap();
}
