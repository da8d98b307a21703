#!/usr/bin/env python3
"""Sparkplug B edge node: an independent peer for Pilotline's integration tests.

It publishes through a real MQTT broker, and every Sparkplug topic and payload
it sends or reads is encoded and decoded by pysparkplug (pinned in
requirements.txt beside this file), so it shares no code with Pilotline's host.

Usage:
    python3 sparkplug_edge.py --host 127.0.0.1 --port 1883 --group G --node N --device D
        [--bdseq 0] [--client-id ID] [--keepalive 30]

On start it connects with an MQTT will that is the NDEATH for the current
bdSeq (QoS 1, not retained), subscribes to spBv1.0/G/NCMD/N, waits for the
SUBACK, then publishes (QoS 0, not retained):
    NBIRTH  seq 0: bdSeq (Int64, no alias), Node Control/Rebirth (Boolean
            false, alias 1), Node/Uptime (Int64 ms since start, alias 2)
    DBIRTH  seq 1 for device D, every metric with name, alias and datatype:
            Chamber/Pressure Double alias 10, Source/CoilPower Float alias 11,
            Tool/State String alias 12, Process/Cycle Int32 alias 13
            (last values sent; initially 0.0, 0.0, "IDLE", 0)
An NCMD carrying Node Control/Rebirth = true (by name or by alias 1, with or
without a datatype) makes it publish NBIRTH (seq 0 again, same bdSeq) and DBIRTH.

Commands, one per line on stdin:
    data <pressure> <coil_power> <state> <cycle>
              DDATA for D with the four metrics by alias only (no name, no
              datatype, as a node does after its birth), next seq.
              <state> is everything between the second and the last word.
    gap       use up one seq number without publishing anything
    ddeath    DDEATH for D, next seq
    ndeath    NDEATH (bdSeq metric as in the birth, no seq), QoS 1, then a
              clean MQTT disconnect (so the broker drops the will)
    reconnect after ndeath: connect again with bdSeq + 1 and birth again
    quit      as ndeath if still connected, then exit 0; EOF on stdin is quit

Stdout, one flushed line per action, written once the packets are on the
socket (QoS 0) or acknowledged by the broker (QoS 1):
    BIRTH bdseq=<n>   births out (at start and after reconnect)
    REBIRTH           births out again after an NCMD rebirth
    SENT seq=<n>      DDATA out with that seq
    GAP               a seq number skipped
    DDEATH            DDEATH out
    NDEATH            NDEATH out and disconnected
    ERR <reason>      a command was refused (bad syntax, value out of range,
                      not connected); the node keeps running
Seq runs 0..255 and wraps. Timestamps are ms since the epoch. Killing the
process (SIGKILL) drops the socket without a DISCONNECT, so the broker
publishes the will NDEATH. A lost connection, or a broker that does not
answer, is fatal: message on stderr, exit 1.

Why paho directly rather than pysparkplug.Client/EdgeNode: EdgeNode numbers
seq itself and cannot skip one, names every DDATA metric, and its disconnect
sends an NDEATH whose bdSeq is already the next connection's; and
pysparkplug.Client decodes an incoming NCMD before our callback without the
node's birth, so a compliant NCMD without a datatype raises inside paho's
network thread, which then dies silently. paho-mqtt is the client that
pysparkplug wraps, pinned by pysparkplug itself.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from typing import Optional

import paho.mqtt.client as mqtt
from pysparkplug import (
    DataType,
    DBirth,
    DData,
    DDeath,
    MessageType,
    Metric,
    NBirth,
    NCmd,
    NDeath,
    Topic,
    get_current_timestamp,
)

SEQ_MODULUS = 256
BDSEQ_NAME = "bdSeq"
REBIRTH_NAME = "Node Control/Rebirth"
REBIRTH_ALIAS = 1
UPTIME_NAME = "Node/Uptime"
UPTIME_ALIAS = 2
# (name, alias, datatype) of device D's metrics, in the order `data` takes them.
DEVICE_METRICS = (
    ("Chamber/Pressure", 10, DataType.DOUBLE),
    ("Source/CoilPower", 11, DataType.FLOAT),
    ("Tool/State", 12, DataType.STRING),
    ("Process/Cycle", 13, DataType.INT32),
)
WAIT_SECONDS = 10.0  # upper bound on any broker round trip before giving up

_stdout_lock = threading.Lock()


def emit(line: str) -> None:
    with _stdout_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def log(message: str) -> None:
    print(f"sparkplug_edge: {message}", file=sys.stderr, flush=True)


class Fatal(Exception):
    """The node cannot go on (broker refused, lost or silent)."""


class CommandError(Exception):
    """A stdin command was refused; reported as ERR, the node goes on."""


class EdgeNode:
    def __init__(self, args: argparse.Namespace, events: "queue.Queue[tuple]") -> None:
        self.args = args
        self.events = events
        self.bdseq = args.bdseq
        self.seq = 0  # the seq the next seq-carrying message will take
        self.started_ms = get_current_timestamp()
        self.values: list = [0.0, 0.0, "IDLE", 0]
        self.client: Optional[mqtt.Client] = None
        self.nbirth: Optional[NBirth] = None
        self.closing = False

    # ---- topics and metrics ----------------------------------------------

    def topic(self, message_type: MessageType, device: bool = False) -> str:
        return str(
            Topic(
                message_type=message_type,
                group_id=self.args.group,
                edge_node_id=self.args.node,
                device_id=self.args.device if device else None,
            )
        )

    def bdseq_metric(self, timestamp: int) -> Metric:
        return Metric(
            timestamp=timestamp, name=BDSEQ_NAME, datatype=DataType.INT64, value=self.bdseq
        )

    def next_seq(self) -> int:
        seq = self.seq
        self.seq = (self.seq + 1) % SEQ_MODULUS
        return seq

    # ---- MQTT plumbing ----------------------------------------------------

    def connect(self) -> None:
        """Open a new MQTT session whose will is the NDEATH for self.bdseq."""
        client_id = self.args.client_id or (
            f"pilotline-edge-{self.args.group}-{self.args.node}-{os.getpid()}"
        )
        client = mqtt.Client(
            client_id=client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        now = get_current_timestamp()
        will = NDeath(timestamp=now, bd_seq_metric=self.bdseq_metric(now))
        client.will_set(self.topic(MessageType.NDEATH), will.encode(), qos=1, retain=False)

        connack: "queue.Queue[int]" = queue.Queue()
        suback = threading.Event()
        client.on_connect = lambda _c, _u, _f, rc: connack.put(rc)
        client.on_subscribe = lambda _c, _u, _mid, _granted: suback.set()
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self.closing = False
        try:
            client.connect(self.args.host, self.args.port, keepalive=self.args.keepalive)
        except OSError as err:
            raise Fatal(f"cannot connect to {self.args.host}:{self.args.port}: {err}") from err
        client.loop_start()
        try:
            rc = connack.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            raise Fatal("no CONNACK from the broker") from None
        if rc != 0:
            raise Fatal(f"broker refused the connection: {mqtt.connack_string(rc)}")
        self.client = client

        result, _mid = client.subscribe(self.topic(MessageType.NCMD), qos=1)
        if result != mqtt.MQTT_ERR_SUCCESS or not suback.wait(WAIT_SECONDS):
            raise Fatal(f"subscription to NCMD failed ({mqtt.error_string(result)})")

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        # Network thread: hand the raw bytes to the main thread, which owns
        # all node state and is the only one that publishes.
        self.events.put(("ncmd", message.payload))

    def _on_disconnect(self, _client, _userdata, rc: int) -> None:
        if not self.closing:
            self.events.put(("lost", rc))

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        """Publish and wait until it is on the socket (QoS 0) or acknowledged (QoS 1)."""
        if self.client is None:
            raise CommandError("not connected")
        info = self.client.publish(topic, payload, qos=qos, retain=False)
        try:
            info.wait_for_publish(timeout=WAIT_SECONDS)
        except (RuntimeError, ValueError) as err:
            raise Fatal(f"publish to {topic} failed: {err}") from err
        if not info.is_published():
            raise Fatal(f"publish to {topic} not done within {WAIT_SECONDS}s")

    def disconnect(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        self.closing = True
        client.disconnect()
        client.loop_stop()  # returns once DISCONNECT is written and the socket closed

    # ---- Sparkplug messages -----------------------------------------------

    def publish_births(self) -> None:
        now = get_current_timestamp()
        self.seq = 0
        self.nbirth = NBirth(
            timestamp=now,
            seq=self.next_seq(),
            metrics=(
                self.bdseq_metric(now),
                Metric(
                    timestamp=now,
                    name=REBIRTH_NAME,
                    alias=REBIRTH_ALIAS,
                    datatype=DataType.BOOLEAN,
                    value=False,
                ),
                Metric(
                    timestamp=now,
                    name=UPTIME_NAME,
                    alias=UPTIME_ALIAS,
                    datatype=DataType.INT64,
                    value=now - self.started_ms,
                ),
            ),
        )
        self.publish(self.topic(MessageType.NBIRTH), self.nbirth.encode())
        dbirth = DBirth(
            timestamp=now,
            seq=self.next_seq(),
            metrics=tuple(
                Metric(timestamp=now, name=name, alias=alias, datatype=datatype, value=value)
                for (name, alias, datatype), value in zip(DEVICE_METRICS, self.values)
            ),
        )
        self.publish(self.topic(MessageType.DBIRTH, device=True), dbirth.encode())

    def start(self) -> None:
        self.connect()
        self.publish_births()
        emit(f"BIRTH bdseq={self.bdseq}")

    def send_data(self, words: list[str]) -> None:
        if len(words) < 4:
            raise CommandError("usage: data <pressure> <coil_power> <state> <cycle>")
        try:
            values = [float(words[0]), float(words[1]), " ".join(words[2:-1]), int(words[-1])]
        except ValueError as err:
            raise CommandError(f"bad data value: {err}") from None
        now = get_current_timestamp()
        try:
            # datatype is given so pysparkplug picks the value field; it is
            # left out of the encoding (encode() defaults to no dtypes).
            metrics = tuple(
                Metric(timestamp=now, name=None, alias=alias, datatype=datatype, value=value)
                for (_name, alias, datatype), value in zip(DEVICE_METRICS, values)
            )
            for metric in metrics:
                metric.to_pb(include_dtype=False)  # range checks (Int32) before seq is used
        except (OverflowError, TypeError, ValueError) as err:
            raise CommandError(f"bad data value: {err}") from None
        if self.client is None:
            raise CommandError("not connected")
        seq = self.next_seq()
        payload = DData(timestamp=now, seq=seq, metrics=metrics).encode()
        self.publish(self.topic(MessageType.DDATA, device=True), payload)
        self.values = values
        emit(f"SENT seq={seq}")

    def send_ddeath(self) -> None:
        if self.client is None:
            raise CommandError("not connected")
        payload = DDeath(timestamp=get_current_timestamp(), seq=self.next_seq()).encode()
        self.publish(self.topic(MessageType.DDEATH, device=True), payload)
        emit("DDEATH")

    def send_ndeath(self) -> None:
        if self.client is None:
            raise CommandError("not connected")
        now = get_current_timestamp()
        payload = NDeath(timestamp=now, bd_seq_metric=self.bdseq_metric(now)).encode()
        self.publish(self.topic(MessageType.NDEATH), payload, qos=1)
        self.disconnect()
        emit("NDEATH")

    def handle_ncmd(self, raw: bytes) -> None:
        try:
            # With our NBIRTH as the birth, pysparkplug fills in names from
            # aliases and datatypes from names when the host left them out.
            ncmd = NCmd.decode(raw, birth=self.nbirth)
        except Exception as err:  # noqa: BLE001 - any undecodable command is skipped
            log(f"ignoring an NCMD that cannot be decoded: {err!r}")
            return
        for metric in ncmd.metrics:
            if metric.name == REBIRTH_NAME and metric.value is True:
                if self.client is None:
                    log("ignoring a rebirth request while disconnected")
                    return
                self.publish_births()
                emit("REBIRTH")
                return
            log(f"ignoring NCMD metric {metric.name!r} = {metric.value!r}")

    def handle_line(self, line: str) -> bool:
        """Run one stdin command; False means quit."""
        words = line.split()
        if not words:
            return True
        command, rest = words[0], words[1:]
        try:
            if command == "data":
                self.send_data(rest)
            elif command == "gap":
                if self.client is None:
                    raise CommandError("not connected")
                self.next_seq()
                emit("GAP")
            elif command == "ddeath":
                self.send_ddeath()
            elif command == "ndeath":
                self.send_ndeath()
            elif command == "reconnect":
                if self.client is not None:
                    raise CommandError("still connected; send ndeath first")
                self.bdseq = (self.bdseq + 1) % SEQ_MODULUS
                self.start()
            elif command == "quit":
                return False
            else:
                raise CommandError(f"unknown command {command!r}")
        except CommandError as err:
            emit(f"ERR {err}")
        return True

    def shut_down(self) -> None:
        if self.client is not None:
            self.send_ndeath()


def read_stdin_lines(events: "queue.Queue[tuple]") -> None:
    """Feed stdin lines to the main thread, then an EOF event.

    os.read on the descriptor rather than sys.stdin: a daemon thread parked in
    the buffered reader holds its lock and makes interpreter shutdown abort.
    """
    pending = b""
    try:
        while chunk := os.read(0, 4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                events.put(("line", line.decode("utf-8", errors="replace")))
    except OSError as err:
        log(f"stdin: {err}")
    if pending.strip():
        events.put(("line", pending.decode("utf-8", errors="replace")))
    events.put(("eof", None))


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Sparkplug B edge node peer for Pilotline's integration tests."
    )
    parser.add_argument("--host", default="127.0.0.1", help="MQTT broker host")
    parser.add_argument("--port", type=int, default=1883, help="MQTT broker port")
    parser.add_argument("--group", required=True, help="Sparkplug group id")
    parser.add_argument("--node", required=True, help="Sparkplug edge node id")
    parser.add_argument("--device", required=True, help="Sparkplug device id")
    parser.add_argument("--bdseq", type=int, default=0, help="bdSeq of the first session")
    parser.add_argument("--client-id", help="MQTT client id (default: derived from ids + pid)")
    parser.add_argument("--keepalive", type=int, default=30, help="MQTT keepalive, seconds")
    args = parser.parse_args(argv)
    if not 0 <= args.bdseq < SEQ_MODULUS:
        parser.error("--bdseq must be within 0..255")
    for name in ("group", "node", "device"):
        value = getattr(args, name)
        if not value or any(c in value for c in "/+#"):
            parser.error(f"--{name} must be non-empty and free of '/', '+' and '#'")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    events: "queue.Queue[tuple]" = queue.Queue()
    node = EdgeNode(args, events)
    try:
        node.start()
        threading.Thread(
            target=read_stdin_lines, args=(events,), name="stdin", daemon=True
        ).start()
        while True:
            kind, arg = events.get()
            if kind == "line":
                if not node.handle_line(arg):
                    break
            elif kind == "ncmd":
                node.handle_ncmd(arg)
            elif kind == "lost":
                raise Fatal(f"connection lost: {mqtt.error_string(arg)}")
            elif kind == "eof":
                break
        node.shut_down()
    except Fatal as err:
        log(str(err))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
