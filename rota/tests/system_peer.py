"""Known records, offsets and members for the System view's tests, made with confluent-kafka, a
client Rota did not write.

  make BOOTSTRAP TOPIC GROUP     creates TOPIC with 3 partitions; writes 10 records to partition 0
                                 and 4 to partition 1 (key k-<i>, value {"i": i}, header n=<i>);
                                 commits offset 7 on partition 0 and 4 on partition 1 in GROUP.
  commit BOOTSTRAP TOPIC GROUP P:O[,P:O...]
                                 commits offset O on partition P of TOPIC in GROUP.
  member BOOTSTRAP TOPIC GROUP   joins GROUP reading TOPIC (client id system-peer), prints one
                                 JSON line with its partitions after each rebalance, and leaves
                                 when its standard input closes.

Each prints JSON.
"""

import json
import sys
import threading

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def consumer(bootstrap, group, **extra):
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "client.id": "system-peer",
            **extra,
        }
    )


def commit(bootstrap, topic, group, offsets):
    c = consumer(bootstrap, group)
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets], asynchronous=False)
    c.close()


def make(bootstrap, topic, group):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(14):
        partition = 0 if i < 10 else 1
        producer.produce(
            topic,
            key=f"k-{i}",
            value=json.dumps({"i": i}),
            partition=partition,
            headers=[("n", str(i))],
        )
    if producer.flush(30) != 0:
        sys.exit("records not delivered")
    commit(bootstrap, topic, group, [(0, 7), (1, 4)])
    print(json.dumps({"ok": True}))


def member(bootstrap, topic, group):
    def assigned(_, partitions):
        print(json.dumps({"assigned": sorted(p.partition for p in partitions)}), flush=True)

    c = consumer(bootstrap, group, **{"session.timeout.ms": 6000})
    c.subscribe([topic], on_assign=assigned)
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    while not closed.is_set():
        c.poll(0.2)
    c.close()
    print(json.dumps({"left": True}), flush=True)


command, bootstrap, topic, group = sys.argv[1:5]
if command == "make":
    make(bootstrap, topic, group)
elif command == "commit":
    pairs = [tuple(int(n) for n in pair.split(":")) for pair in sys.argv[5].split(",")]
    commit(bootstrap, topic, group, pairs)
    print(json.dumps({"ok": True}))
elif command == "member":
    member(bootstrap, topic, group)
else:
    sys.exit(f"unknown command {command}")
