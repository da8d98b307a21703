#!/usr/bin/env python3
"""Modbus TCP server: an independent peer for Pilotline's integration tests.

It is built on pymodbus (pinned in requirements.txt beside this file) and shares
no code with Pilotline, so a Rust test that reads or writes through it checks
our Modbus client against someone else's reading of the protocol.

Usage:
    python3 modbus_peer.py [--host 127.0.0.1] [--port 0] [--unit 1]
        [--holding ADDR=VALUE[,ADDR=VALUE...]] [--input ADDR=VALUE,...]
        [--coil ADDR=0|1,...] [--discrete ADDR=0|1,...] [--log-writes]

ADDR is the 0-based address as it goes on the wire (register 0 is the first
one, no 40001-style offset). VALUE is a raw u16 register value, decimal or 0x
hex; coils and discrete inputs take 0 or 1. Each option may be repeated.
Everything not set reads 0. Only the given unit id (slave id) is served: a
request for any other unit gets Modbus exception 0x0B (gateway target device
failed to respond).

Stdout protocol (each line flushed):
    READY <port>                      once, when the server is listening
    WRITE <table> <addr> <v1,v2,...>  after each write, only with --log-writes
                                      (table is holding or coil)
The process serves until standard input reaches EOF, or it gets SIGTERM or
SIGINT, and then exits 0. So the parent must give it a pipe on stdin and keep
that pipe open for as long as it wants the server up. Errors go to stderr with
exit status 2 (bad arguments) or 1 (could not listen).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server import ModbusTcpServer

ADDRESS_SPACE = 65536


def parse_assignments(specs: list[str], kind: str, max_value: int) -> dict[int, int]:
    """Turn ["0=1,1=0x10", "5=7"] into {0: 1, 1: 16, 5: 7}; ValueError on bad input."""
    values: dict[int, int] = {}
    for spec in specs:
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            addr_text, sep, value_text = item.partition("=")
            if not sep:
                raise ValueError(f"--{kind} item {item!r} is not ADDR=VALUE")
            try:
                addr = int(addr_text.strip(), 0)
                value = int(value_text.strip(), 0)
            except ValueError:
                raise ValueError(f"--{kind} item {item!r}: not an integer") from None
            if not 0 <= addr < ADDRESS_SPACE:
                raise ValueError(f"--{kind} address {addr} outside 0..65535")
            if not 0 <= value <= max_value:
                raise ValueError(f"--{kind} value {value} outside 0..{max_value}")
            values[addr] = value
    return values


def make_block(assignments: dict[int, int], as_bool: bool) -> ModbusSequentialDataBlock:
    """A block covering the whole address space, starting at address 0.

    Each block is built here rather than left to ModbusSlaveContext's defaults:
    those defaults are evaluated once, so every context would share one store.
    """
    cells: list = [False if as_bool else 0] * ADDRESS_SPACE
    for addr, value in assignments.items():
        cells[addr] = bool(value) if as_bool else value
    return ModbusSequentialDataBlock(0, cells)


class LoggingSlaveContext(ModbusSlaveContext):
    """A slave context that reports every write on stdout."""

    TABLES = {"h": "holding", "c": "coil", "d": "discrete", "i": "input"}

    def setValues(self, fc_as_hex, address, values):  # noqa: N802 (pymodbus API name)
        super().setValues(fc_as_hex, address, values)
        table = self.TABLES.get(self.decode(fc_as_hex), str(fc_as_hex))
        shown = ",".join(str(int(v)) for v in values)
        emit(f"WRITE {table} {address} {shown}")


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Modbus TCP server peer for Pilotline's integration tests."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 picks a free one (default)"
    )
    parser.add_argument("--unit", type=int, default=1, help="unit (slave) id, 0..247")
    parser.add_argument("--holding", action="append", default=[], metavar="ADDR=VALUE,...")
    parser.add_argument("--input", action="append", default=[], metavar="ADDR=VALUE,...")
    parser.add_argument("--coil", action="append", default=[], metavar="ADDR=0|1,...")
    parser.add_argument("--discrete", action="append", default=[], metavar="ADDR=0|1,...")
    parser.add_argument(
        "--log-writes",
        action="store_true",
        help="print WRITE lines on stdout (the parent must then keep reading stdout)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be within 0..65535")
    if not 0 <= args.unit <= 247:
        parser.error("--unit must be within 0..247")
    try:
        args.holding = parse_assignments(args.holding, "holding", 0xFFFF)
        args.input = parse_assignments(args.input, "input", 0xFFFF)
        args.coil = parse_assignments(args.coil, "coil", 1)
        args.discrete = parse_assignments(args.discrete, "discrete", 1)
    except ValueError as err:
        parser.error(str(err))
    return args


async def serve(args: argparse.Namespace) -> int:
    context_class = LoggingSlaveContext if args.log_writes else ModbusSlaveContext
    slave = context_class(
        di=make_block(args.discrete, as_bool=True),
        co=make_block(args.coil, as_bool=True),
        hr=make_block(args.holding, as_bool=False),
        ir=make_block(args.input, as_bool=False),
        # Without zero_mode pymodbus adds 1 to every wire address before it
        # looks in the block, so wire address 0 would read the block's cell 1.
        zero_mode=True,
    )
    context = ModbusServerContext(slaves={args.unit: slave}, single=False)
    server = ModbusTcpServer(context, address=(args.host, args.port))

    # listen() binds (port 0 lets the OS choose) and returns once the socket
    # accepts connections, so the port can be read back before READY.
    if not await server.listen():
        print(f"modbus_peer: cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    port = server.transport.sockets[0].getsockname()[1]

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def wait_for_stdin_eof() -> None:
        # Reading in a thread works whatever stdin is (pipe, file, tty).
        # os.read on the descriptor, not sys.stdin: a daemon thread parked in
        # the buffered reader holds its lock and aborts interpreter shutdown.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stdin_eof, name="stdin-eof", daemon=True).start()

    emit(f"READY {port}")
    await stop.wait()
    await server.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
