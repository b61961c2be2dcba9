"""Reads COUNT records of TOPIC as a member of consumer group GROUP, then commits and leaves.

Usage: python3 group_read.py BOOTSTRAP TOPIC GROUP COUNT
Prints one line per record (partition, offset, key, value). Start two at once with the same GROUP
to watch the group split the partitions between them. Needs `pip install confluent-kafka`.
"""

import sys

from confluent_kafka import Consumer

bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",  # a new group starts at the oldest record
        "enable.auto.commit": False,  # commit below, once the records are handled
    }
)
consumer.subscribe([topic])
read = 0
while read < count:
    message = consumer.poll(30)
    if message is None:
        sys.exit(f"only {read} of {count} records within 30 s")
    if message.error():
        sys.exit(str(message.error()))
    print(message.partition(), message.offset(), message.key().decode(), message.value().decode())
    read += 1
consumer.commit(asynchronous=False)
consumer.close()
