#!/usr/bin/env python3
"""Consume Tidemark lifecycle events from Kafka and summarise them.

A starting point for analytics consumers. It shows the rules of
schemas/README.md in code:

* read every partition; one ClientID's events are ordered (key = ClientID);
* de-duplicate on the CloudEvents id (a replay re-emits the same ids);
* skip event types it does not know, ignore fields it does not know, and
  treat enum values it does not know as "other";
* pair client.connected with client.disconnected by data.conn_id to get
  online time, which stays right across takeovers;
* count sessions with session.created / session.terminated, not with
  connects (a resumed session is the same session).

Needs kafka-python:  pip install kafka-python==3.0.12

Example:
    python3 consume.py --bootstrap 127.0.0.1:9092 --from-beginning --idle-ms 5000

It stops after --idle-ms without a new record (0 = run until interrupted)
and prints one JSON summary line on stdout.
"""

import argparse
import json
import sys

from kafka import KafkaConsumer

KNOWN_TYPES = {
    "mqtt.client.connected",
    "mqtt.client.disconnected",
    "mqtt.client.connect_rejected",
    "mqtt.session.created",
    "mqtt.session.resumed",
    "mqtt.session.terminated",
    "mqtt.session.subscribed",
    "mqtt.session.unsubscribed",
    "mqtt.session.message_dropped",
    "mqtt.session.will_published",
    "mqtt.session.will_cancelled",
}

# Enum values this consumer was written for; anything else counts as "other".
DISCONNECT_REASONS = {
    "normal", "takenover", "discarded", "keepalive_timeout", "closed",
    "protocol_error", "server_shutdown", "slow_consumer", "node_down",
    "not_authorized", "packet_too_large", "quota_exceeded",
}
TERMINATE_REASONS = {"normal", "conflict", "expired", "discarded", "node_down"}


def known(value, allowed):
    return value if value in allowed else "other"


class Summary:
    def __init__(self):
        self.seen_ids = set()
        self.events = 0
        self.duplicates = 0
        self.unknown_types = 0
        self.open = {}            # conn_id -> client_id, connected not yet disconnected
        self.online_ms = {}       # client_id -> total milliseconds online
        self.live_sessions = set()
        self.sessions_created = 0
        self.sessions_resumed = 0
        self.terminated = {}      # reason -> count
        self.disconnects = {}     # reason -> count
        self.rejected = 0
        self.dropped = 0

    def apply(self, event):
        if event.get("specversion") != "1.0" or "id" not in event:
            return
        if event["id"] in self.seen_ids:
            self.duplicates += 1
            return
        self.seen_ids.add(event["id"])
        kind = event.get("type")
        if kind not in KNOWN_TYPES:
            self.unknown_types += 1
            return
        self.events += 1
        data = event.get("data") or {}
        client = data.get("client_id", "")
        if kind == "mqtt.client.connected":
            self.open[data["conn_id"]] = client
        elif kind == "mqtt.client.disconnected":
            self.open.pop(data["conn_id"], None)
            self.online_ms[client] = self.online_ms.get(client, 0) + data["duration_ms"]
            reason = known(data["reason"], DISCONNECT_REASONS)
            self.disconnects[reason] = self.disconnects.get(reason, 0) + 1
        elif kind == "mqtt.client.connect_rejected":
            self.rejected += 1
        elif kind == "mqtt.session.created":
            self.sessions_created += 1
            self.live_sessions.add(client)
        elif kind == "mqtt.session.resumed":
            self.sessions_resumed += 1
            self.live_sessions.add(client)
        elif kind == "mqtt.session.terminated":
            self.live_sessions.discard(client)
            reason = known(data["reason"], TERMINATE_REASONS)
            self.terminated[reason] = self.terminated.get(reason, 0) + 1
        elif kind == "mqtt.session.message_dropped":
            self.dropped += data["count"]

    def result(self):
        return {
            "events": self.events,
            "duplicates": self.duplicates,
            "unknown_types": self.unknown_types,
            "online_clients": sorted(set(self.open.values())),
            "online_ms": self.online_ms,
            "live_sessions": sorted(self.live_sessions),
            "sessions_created": self.sessions_created,
            "sessions_resumed": self.sessions_resumed,
            "sessions_terminated": self.terminated,
            "disconnect_reasons": self.disconnects,
            "rejected": self.rejected,
            "dropped": self.dropped,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="mqtt.lifecycle")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--idle-ms", type=int, default=5000)
    parser.add_argument("--print-events", action="store_true",
                        help="also print each new event as a JSON line on stderr")
    args = parser.parse_args()

    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap.split(","),
        group_id=None,  # no offsets committed; a real job would use a group
        enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        consumer_timeout_ms=args.idle_ms if args.idle_ms > 0 else float("inf"),
    )
    summary = Summary()
    try:
        for record in consumer:
            try:
                event = json.loads(record.value)
            except ValueError:
                continue  # not a lifecycle event
            if not isinstance(event, dict):
                continue
            if args.print_events:
                print(json.dumps(event), file=sys.stderr)
            summary.apply(event)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print(json.dumps(summary.result(), sort_keys=True))


if __name__ == "__main__":
    main()
