"""What the enricher's black-box tests share.

Each test gets its own world on the shared broker: a raw topic, a
consumer group, DLQ and state topics, and a catalog file whose kind
topics are its own, so tests never see each other's records. Raw
notifications are written straight to the raw topic as hookbridge-ingest
would write them; the enricher is observed through its topics, its HTTP
endpoints and the calls the test HR Manager API recorded.
"""

import datetime
import json
import os
import re
import time

import hbtest
import hrmapi

REPO_ROOT = hbtest.REPO_ROOT
DEFAULT_CATALOG = os.path.join(REPO_ROOT, "common", "hrm-catalog.json")
RFC3339_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# kind -> (API resource, id field, upsert event, delete event or None)
KINDS = {
    "candidate": ("Candidates", "CandidateId", "CandidateUpdated",
                  "CandidateDeleted"),
    "position": ("Positions", "PositionId", "PositionPublished", None),
    "project": ("Projects", "ProjectId", "ProjectUpdated", "ProjectDeleted"),
}


class World:
    """One test's topics, group and catalog."""

    def __init__(self, tmp_path, raw_partitions=1, raw_topic=None):
        tag = hbtest.unique_topic("enr")
        self.raw_topic = raw_topic or f"{tag}-raw"
        self.dlq_topic = f"{tag}-dlq"
        self.state_topic = f"{tag}-state"
        self.group = hbtest.unique_group("enricher")
        with open(DEFAULT_CATALOG, encoding="utf-8") as f:
            catalog = json.load(f)
        for kind in catalog["kinds"].values():
            kind["topic"] = f"{tag}-{kind['topic']}"
        self.catalog = catalog
        self.catalog_path = os.path.join(str(tmp_path), f"{tag}-catalog.json")
        with open(self.catalog_path, "w", encoding="utf-8") as f:
            json.dump(catalog, f)
        if raw_topic is None:
            hbtest.create_topic(self.raw_topic, partitions=raw_partitions)

    def topic(self, kind):
        """The downstream topic of `kind` in this world."""
        return self.catalog["kinds"][kind]["topic"]

    def env(self, api, **settings):
        """Settings for an enricher in this world, using `api`."""
        env = {
            "HOOKBRIDGE_KAFKA_BROKERS": hbtest.brokers(),
            "HOOKBRIDGE_CATALOG": self.catalog_path,
            "HOOKBRIDGE_RAW_TOPIC": self.raw_topic,
            "HOOKBRIDGE_GROUP_ID": self.group,
            "HOOKBRIDGE_DLQ_TOPIC": self.dlq_topic,
            "HOOKBRIDGE_STATE_TOPIC": self.state_topic,
            "HOOKBRIDGE_WINDOW_MS": "300",
            "HOOKBRIDGE_API_RATE": "50",
            "HOOKBRIDGE_API_BACKOFF_MS": "50",
            "HOOKBRIDGE_LOG_LEVEL": "debug",
            # Short sessions make a killed replica's partitions move soon.
            "HOOKBRIDGE_RDKAFKA_SESSION_TIMEOUT_MS": "6000",
            "HOOKBRIDGE_RDKAFKA_HEARTBEAT_INTERVAL_MS": "500",
        }
        if api is not None:
            env.update(api.enricher_env())
        env.update({f"HOOKBRIDGE_{k.upper()}": str(v)
                    for k, v in settings.items()})
        return env

    def notify(self, kind, obj_id, event=None, partition=None, **fields):
        """Write one raw notification as the ingest would; return
        (partition, offset)."""
        resource, id_field, upsert, _ = KINDS[kind]
        event = event or upsert
        body = {"EventType": event, id_field: obj_id,
                "Timestamp": "2026-12-01T10:00:00Z", **fields}
        now = datetime.datetime.now(datetime.timezone.utc)
        received = now.strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{now.microsecond // 1000:03d}Z"
        del resource
        return hbtest.produce(self.raw_topic, f"{kind}:{obj_id}", body,
                              headers={"event-type": event,
                                       "received-at": received},
                              partition=partition)

    def records(self, kind, timeout=10, idle=1, stop_when=None):
        """Every record on `kind`'s downstream topic so far."""
        return hbtest.consume_all(self.topic(kind), timeout=timeout,
                                  idle=idle, stop_when=stop_when)

    def wait_records(self, kind, pred, timeout=30):
        """Records of `kind`'s topic once pred(records) holds; fails the
        test with what was read when it does not within `timeout`."""
        recs = hbtest.consume_all(self.topic(kind), timeout=timeout,
                                  idle=timeout, stop_when=pred)
        assert pred(recs), f"condition not met within {timeout}s: {recs!r}"
        return recs


def start_api(service_factory, **env):
    """Start the test HR Manager API, unlimited unless told otherwise."""
    env.setdefault("HOOKBRIDGE_TEST_API_RATE", "0")
    return hrmapi.start_test_api(service_factory, **env)


def start_enricher(service_factory, world, api, ready=True, name=None,
                   **settings):
    """Start hookbridge-enricher in `world` on a free metrics port."""
    port = hbtest.free_port()
    env = world.env(api, metrics_listen=f"127.0.0.1:{port}", **settings)
    svc = service_factory("hookbridge-enricher", env=env, port=port,
                          name=name)
    svc.wait_http("/healthz", timeout=30)
    if ready:
        svc.wait_http("/readyz", timeout=30)
    return svc


def wait_assigned(svc, timeout=30):
    """Wait until the enricher logged a partition assignment."""
    deadline = time.monotonic() + timeout
    while "partitions assigned" not in svc.log_text():
        svc.check_running()
        if time.monotonic() >= deadline:
            raise AssertionError(f"no assignment within {timeout}s:\n"
                                 f"{svc.log_tail()}")
        time.sleep(0.1)


def metric(svc, name):
    """The value of the hookbridge_`name` series (summed over labels)."""
    text = hbtest.http().get(svc.url("/metrics"), timeout=5).text
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith(f"hookbridge_{name} ") or \
                line.startswith(f"hookbridge_{name}{{"):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"no metric hookbridge_{name} in:\n{text}"
    return total


def calls_for(api, kind, obj_id):
    """The API calls recorded for one object."""
    return api.calls(resource=KINDS[kind][0], id=str(obj_id))


def candidate(obj_id, version, **extra):
    """A candidate object as the API returns it inside Items."""
    return {"CandidateId": obj_id, "Version": version,
            "FirstName": "Ada", "LastName": "Lovelace", **extra}


def last_by_key(records):
    """key -> the last record for it."""
    last = {}
    for rec in records:
        last[rec.key] = rec
    return last


def committed_offsets(group, topic, partitions=1):
    """The group's committed offsets of `topic` (partition -> offset)."""
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": hbtest.brokers(),
                         "group.id": group, "enable.auto.commit": False})
    try:
        parts = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in parts}
    finally:
        consumer.close()
