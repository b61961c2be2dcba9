"""Reads a ride's positions from Rota's broker with two independent Kafka clients.

Usage: kafka_clients.py BOOTSTRAP RIDE_ID
Prints one JSON object: per client, the topics it listed and the ride's positions it read
(through a consumer group), so the Rust test can compare them with what the WebSocket delivered.
"""

import json
import sys
import time

BOOTSTRAP, RIDE_ID = sys.argv[1], sys.argv[2]
TOPIC = "route.new-position"
DEADLINE = 60  # seconds


def kafka_python():
    from kafka import KafkaAdminClient, KafkaConsumer

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="rota-test")
    topics = sorted(admin.list_topics())
    admin.close()
    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id="kafka-python-check",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    positions = read(lambda: poll_kafka_python(consumer))
    consumer.commit()
    consumer.close()
    return {"topics": topics, "positions": positions}


def poll_kafka_python(consumer):
    for records in consumer.poll(timeout_ms=500).values():
        for record in records:
            yield record.key, record.value


def confluent():
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topics = sorted(admin.list_topics(timeout=10).topics)
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": "confluent-kafka-check",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([TOPIC])

    def poll():
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            yield message.key(), message.value()

    positions = read(poll)
    consumer.commit(asynchronous=False)
    consumer.close()
    return {"topics": topics, "positions": positions}


def read(poll):
    """The ride's positions in order, up to the finished one."""
    positions = []
    started = time.time()
    while time.time() - started < DEADLINE:
        for key, value in poll():
            event = json.loads(value)
            if event.get("rideId") != RIDE_ID:
                continue
            if key.decode() != RIDE_ID:
                raise SystemExit(f"position keyed {key!r}, not by ride id")
            positions.append(event)
            if event["finished"]:
                return positions
    raise SystemExit(f"ride {RIDE_ID} did not finish within {DEADLINE}s: {len(positions)} positions")


print(json.dumps({"kafka-python": kafka_python(), "confluent-kafka": confluent()}))
