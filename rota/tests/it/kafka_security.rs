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
