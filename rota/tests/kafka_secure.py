"""Logs in to Rota's built-in broker over TLS with SASL/SCRAM as two independent clients, and
tries the ways in that must fail.

Usage: kafka_secure.py BOOTSTRAP CA_FILE USER PASSWORD RIDE_ID
Prints one JSON object: the ride's positions each client read (confluent-kafka with SCRAM-SHA-256,
kafka-python with SCRAM-SHA-512), and what a wrong password and a plaintext client got.
"""

import json
import sys
import time

BOOTSTRAP, CA_FILE, USER, PASSWORD, RIDE_ID = sys.argv[1:6]
TOPIC = "route.new-position"
DEADLINE = 60  # seconds


def confluent(mechanism, password):
    from confluent_kafka import Consumer, KafkaException

    errors = []
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": CA_FILE,
            "sasl.mechanism": mechanism,
            "sasl.username": USER,
            "sasl.password": password,
            "group.id": "confluent-secure-check",
            "auto.offset.reset": "earliest",
            "error_cb": lambda e: errors.append(str(e)),
        }
    )
    consumer.subscribe([TOPIC])
    seqs = []
    end = time.time() + (DEADLINE if password == PASSWORD else 10)
    while time.time() < end and not errors:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        value = json.loads(message.value())
        if message.key() == RIDE_ID.encode():
            seqs.append(value["seq"])
            if value.get("finished"):
                break
    consumer.close()
    return {"seqs": seqs, "errors": errors}


def kafka_python(deadline, **security):
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            TOPIC,
            bootstrap_servers=BOOTSTRAP,
            group_id="kafka-python-secure-check",
            auto_offset_reset="earliest",
            request_timeout_ms=10000,
            **security,
        )
    except KafkaError as e:
        return {"seqs": [], "errors": [type(e).__name__]}
    seqs, finished = [], False
    end = time.time() + deadline
    while time.time() < end and not finished:
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                if record.key == RIDE_ID.encode():
                    value = json.loads(record.value)
                    seqs.append(value["seq"])
                    finished = finished or value.get("finished", False)
    consumer.close()
    return {"seqs": seqs, "errors": [] if finished else ["timed out"]}


print(
    json.dumps(
        {
            "confluent-kafka": confluent("SCRAM-SHA-256", PASSWORD),
            "wrong-password": confluent("SCRAM-SHA-512", PASSWORD + "-wrong"),
            "kafka-python": kafka_python(
                DEADLINE,
                security_protocol="SASL_SSL",
                ssl_cafile=CA_FILE,
                sasl_mechanism="SCRAM-SHA-512",
                sasl_plain_username=USER,
                sasl_plain_password=PASSWORD,
            ),
            # A few seconds show it: the TLS listener never answers plaintext.
            "plaintext": kafka_python(5, security_protocol="PLAINTEXT"),
        }
    )
)
