#!/usr/bin/env python3
"""Ask a Kafka broker whether it serves clients.

An open port is not enough: a KRaft broker accepts connections before it has
registered with its controller. This probe speaks the wire protocol, sends
ApiVersions and then Metadata, and succeeds only when the metadata names at
least one live broker and an active controller. Standard library only, so it
runs on a fresh machine; one attempt per call, the caller loops.

Usage: kafka_probe.py HOST:PORT [TIMEOUT_SECONDS]
Exit status 0 when ready, 1 otherwise (the reason goes to stderr).
"""

import socket
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
METADATA_VERSION = 4  # non-flexible encoding, supported by Kafka 1.0 to 4.x


def request(sock, api_key, api_version, corr, body):
    client = b"tidemark-probe"
    header = struct.pack(">hhih", api_key, api_version, corr, len(client)) + client
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    size = struct.unpack(">i", read_exact(sock, 4))[0]
    payload = read_exact(sock, size)
    got = struct.unpack(">i", payload[:4])[0]
    if got != corr:
        raise RuntimeError(f"correlation id {got}, want {corr}")
    return payload[4:]


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RuntimeError("connection closed by broker")
        buf += chunk
    return buf


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        vals = struct.unpack(fmt, self.data[self.pos:self.pos + size])
        self.pos += size
        return vals[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s


def probe(addr, timeout):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        r = Reader(request(sock, API_VERSIONS, 0, 1, b""))
        err = r.take(">h")
        if err != 0:
            raise RuntimeError(f"api versions error code {err}")
        versions = {}
        for _ in range(r.take(">i")):
            key, lo, hi = r.take(">h"), r.take(">h"), r.take(">h")
            versions[key] = (lo, hi)
        lo, hi = versions.get(API_METADATA, (0, -1))
        if not lo <= METADATA_VERSION <= hi:
            raise RuntimeError(f"metadata v{METADATA_VERSION} unsupported (broker: v{lo}-v{hi})")
        # topics = null (all), allow_auto_topic_creation = false
        body = struct.pack(">ib", -1, 0)
        r = Reader(request(sock, API_METADATA, METADATA_VERSION, 2, body))
        r.take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(r.take(">i")):
            node = r.take(">i")
            host_, port_ = r.string(), r.take(">i")
            r.string()  # rack
            brokers.append(f"{node}@{host_}:{port_}")
        cluster = r.string()
        controller = r.take(">i")
        if not brokers or controller < 0:
            raise RuntimeError(f"no live broker or controller yet (brokers={brokers}, controller={controller})")
        return cluster, brokers, controller


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    try:
        cluster, brokers, controller = probe(sys.argv[1], timeout)
    except (OSError, RuntimeError, struct.error) as exc:
        print(f"kafka at {sys.argv[1]} not ready: {exc}", file=sys.stderr)
        return 1
    print(f"cluster {cluster} brokers {','.join(brokers)} controller {controller}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
