"""Writes, or reads back, the data of a built-in broker written by an earlier release.

Usage: legacy_broker.py make BOOTSTRAP   (once, against the release being retired)
       legacy_broker.py read BOOTSTRAP   (by the test, against the release that migrates it)

`make` created rota/tests/fixtures/tansu-0.6/broker.db with the last release on tansu 0.6: one
topic of three partitions holding keyed records with headers, and a consumer group with committed
offsets. `read` prints, as one JSON object, every record (partition, offset, key, value, headers)
and the group's committed offsets, for the Rust test to compare with `expected()`.
"""

import json
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

MODE, BOOTSTRAP = sys.argv[1], sys.argv[2]
TOPIC, GROUP, PARTITIONS, RECORDS = "legacy-rides", "legacy-readers", 3, 30
COMMITTED = 4  # the group's committed offset on every partition


def make():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
        future.result()
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True})
    for i in range(RECORDS):
        producer.produce(
            TOPIC,
            key=f"ride-{i % 6}",
            value=json.dumps({"i": i}),
            partition=i % PARTITIONS,
            headers=[("source", b"tansu-0.6"), ("n", str(i).encode())],
        )
    assert producer.flush(30) == 0, "every record is delivered"
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": GROUP})
    consumer.commit(
        offsets=[TopicPartition(TOPIC, p, COMMITTED) for p in range(PARTITIONS)],
        asynchronous=False,
    )
    consumer.close()


def read():
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": "legacy-check",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    records, ended = [], set()
    while len(ended) < PARTITIONS:
        message = consumer.poll(30)
        assert message is not None, f"records stop before the end ({len(records)} read)"
        if message.error():
            assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
            ended.add(message.partition())
            continue
        records.append(
            {
                "partition": message.partition(),
                "offset": message.offset(),
                "key": message.key().decode(),
                "value": json.loads(message.value()),
                "headers": [[k, v.decode()] for k, v in message.headers() or []],
            }
        )
    consumer.close()
    group = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": GROUP})
    committed = group.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)
    group.close()
    print(json.dumps({"records": records, "committed": {tp.partition: tp.offset for tp in committed}}))


{"make": make, "read": read}[MODE]()
