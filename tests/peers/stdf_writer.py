#!/usr/bin/env python3
"""STDF V4 writer: an independent peer for Pilotline's integration tests.

It builds every record with Semi-ATE-STDF (pinned in requirements.txt beside
this file; import name Semi_ATE.STDF) and shares no code with Pilotline, so a
Rust test that imports its output checks our STDF reader against someone
else's writing of the format.

Usage:
    python3 stdf_writer.py --out FILE --endian little|big --lot LOT
        --part-type PT --spec SPEC.json [--timestamp EPOCH] [--retest-bit 0|1]

--endian little writes FAR.CPU_TYPE 2 and every multi-byte field little
endian; --endian big writes CPU_TYPE 1 and big endian fields. STDF_VER is 4.

SPEC.json:
    {"wafers": [{"id": "W01",
                 "parts": [{"x": 0, "y": 0, "hard_bin": 1, "soft_bin": 1,
                            "pass": true, "site": 0, "test_time_ms": 120},
                           ...]},
                ...],
     "bins": [{"number": 1, "name": "PASS", "pass": true},
              {"number": 5, "name": "OPEN", "pass": false}]}
  Required part keys: x, y (-32768..32767), hard_bin, soft_bin (0..65535),
  pass (JSON true/false). Optional: site (0..255, default 0), test_time_ms
  (0..4294967295, default 0). Every hard_bin and soft_bin used by a part must be
  listed in "bins"; each listed bin gets one HBR and one SBR. Unknown keys are
  errors (they are usually typos). Strings (wafer id, bin name, --lot,
  --part-type) must be ASCII, at most 255 characters and without leading or
  trailing whitespace, because Semi-ATE-STDF would silently strip, truncate or
  blank them otherwise.

Records written, in order:
    FAR (CPU_TYPE 2|1, STDF_VER 4)
    MIR (LOT_ID=--lot, PART_TYP=--part-type, SETUP_T=START_T=--timestamp)
    per wafer: WIR (HEAD_NUM 1, WAFER_ID)
               per part, in list order: PIR + PRR (HEAD_NUM 1, SITE_NUM=site,
                   PART_FLG, NUM_TEST 0, HARD_BIN, SOFT_BIN, X_COORD, Y_COORD,
                   TEST_T=test_time_ms)
               WRR (HEAD_NUM 1, PART_CNT=parts in this wafer, RTST_CNT, ABRT_CNT 0,
                    GOOD_CNT, WAFER_ID)
    per bin, in list order: HBR (HEAD_NUM 255, SITE_NUM 0, HBIN_PF 'P'|'F')
    per bin, in list order: SBR (HEAD_NUM 255, SITE_NUM 0, SBIN_PF 'P'|'F')
    PCR (HEAD_NUM 255, SITE_NUM 0, PART_CNT, RTST_CNT, ABRT_CNT 0, GOOD_CNT)
    MRR (FINISH_T=--timestamp)

PART_FLG: 0x08 when "pass" is false, else 0 (bit 4 stays 0: pass/fail is
valid). A part whose (wafer id, x, y) already appeared earlier in the spec is
a retest: it is written after the first one, as testers do, and also gets bit
--retest-bit set (default 0, i.e. 0x01, "supersedes the part with the same
PART_ID"; STDF V4 defines bit 1, 0x02, as "supersedes the part at the same
head/site/X/Y"). No PART_ID is written.

Counts: every PRR counts. HBIN_CNT/SBIN_CNT = PRRs with that hard/soft bin,
retests included; PART_CNT = PRRs; RTST_CNT = PRRs flagged as retests;
GOOD_CNT = PRRs with pass true. So a retested die adds 2 to PART_CNT.

The file is written to a temporary name beside --out and renamed into place,
so a failed run never leaves a partial file. With a fixed --timestamp (default
1700000000) the output is byte-for-byte reproducible.

Stdout on success (one line):
    WROTE <path as given to --out> <file size in bytes>
Errors go to stderr: exit 2 for bad arguments or a bad spec, 1 for a failure
to write the file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

try:
    from Semi_ATE import STDF
except ImportError as exc:  # pragma: no cover - environment problem
    print(
        "stdf_writer: cannot import Semi_ATE.STDF (%s); install tests/peers/requirements.txt" % exc,
        file=sys.stderr,
    )
    sys.exit(1)

PROG = "stdf_writer"
DEFAULT_TIMESTAMP = 1_700_000_000

PART_REQUIRED = ("x", "y", "hard_bin", "soft_bin", "pass")
PART_OPTIONAL = {"site": 0, "test_time_ms": 0}
BIN_REQUIRED = ("number", "name", "pass")
WAFER_REQUIRED = ("id", "parts")


class SpecError(Exception):
    pass


def _check_keys(obj, where, required, optional=()):
    if not isinstance(obj, dict):
        raise SpecError("%s: expected a JSON object, got %s" % (where, type(obj).__name__))
    missing = [k for k in required if k not in obj]
    if missing:
        raise SpecError("%s: missing key(s) %s" % (where, ", ".join(missing)))
    unknown = sorted(k for k in obj if k not in required and k not in optional)
    if unknown:
        raise SpecError("%s: unknown key(s) %s" % (where, ", ".join(unknown)))


def _int(obj, key, where, lo, hi):
    v = obj[key]
    # bool is a subclass of int in Python; reject it so `true` is not read as 1.
    if not isinstance(v, int) or isinstance(v, bool):
        raise SpecError("%s.%s: expected an integer, got %r" % (where, key, v))
    if not lo <= v <= hi:
        raise SpecError("%s.%s: %d is outside %d..%d" % (where, key, v, lo, hi))
    return v


def _bool(obj, key, where):
    v = obj[key]
    if not isinstance(v, bool):
        raise SpecError("%s.%s: expected true or false, got %r" % (where, key, v))
    return v


def _text(v, where):
    """A string Semi-ATE-STDF will store unchanged in a C*n field."""
    if not isinstance(v, str):
        raise SpecError("%s: expected a string, got %r" % (where, v))
    if len(v) > 255:
        raise SpecError("%s: %d characters, STDF C*n holds at most 255" % (where, len(v)))
    if any(ord(c) > 127 for c in v):
        raise SpecError("%s: %r is not ASCII (STDF strings are ASCII)" % (where, v))
    if v != v.strip():
        raise SpecError("%s: %r has leading/trailing whitespace (Semi-ATE-STDF would strip it)" % (where, v))
    return v


def load_spec(path):
    try:
        with open(path, "r", encoding="utf-8") as fh:
            raw = json.load(fh)
    except OSError as exc:
        raise SpecError("cannot read %s: %s" % (path, exc.strerror or exc))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError("%s is not valid JSON: %s" % (path, exc))

    _check_keys(raw, "spec", ("wafers", "bins"))
    if not isinstance(raw["bins"], list):
        raise SpecError("spec.bins: expected a list")
    if not isinstance(raw["wafers"], list):
        raise SpecError("spec.wafers: expected a list")

    bins = []
    seen_bins = set()
    for i, b in enumerate(raw["bins"]):
        where = "bins[%d]" % i
        _check_keys(b, where, BIN_REQUIRED)
        number = _int(b, "number", where, 0, 65535)
        if number in seen_bins:
            raise SpecError("%s.number: bin %d is listed twice" % (where, number))
        seen_bins.add(number)
        bins.append({
            "number": number,
            "name": _text(b["name"], where + ".name"),
            "pass": _bool(b, "pass", where),
        })

    wafers = []
    for wi, w in enumerate(raw["wafers"]):
        wwhere = "wafers[%d]" % wi
        _check_keys(w, wwhere, WAFER_REQUIRED)
        wafer_id = _text(w["id"], wwhere + ".id")
        if not isinstance(w["parts"], list):
            raise SpecError("%s.parts: expected a list" % wwhere)
        parts = []
        for pi, p in enumerate(w["parts"]):
            where = "%s.parts[%d]" % (wwhere, pi)
            _check_keys(p, where, PART_REQUIRED, PART_OPTIONAL)
            q = dict(PART_OPTIONAL)
            q.update(p)
            part = {
                "x": _int(q, "x", where, -32768, 32767),
                "y": _int(q, "y", where, -32768, 32767),
                "hard_bin": _int(q, "hard_bin", where, 0, 65535),
                "soft_bin": _int(q, "soft_bin", where, 0, 65535),
                "pass": _bool(q, "pass", where),
                "site": _int(q, "site", where, 0, 255),
                "test_time_ms": _int(q, "test_time_ms", where, 0, 4294967295),
            }
            for key in ("hard_bin", "soft_bin"):
                if part[key] not in seen_bins:
                    raise SpecError("%s.%s: bin %d is not listed in spec.bins" % (where, key, part[key]))
            parts.append(part)
        wafers.append({"id": wafer_id, "parts": parts})
    return wafers, bins


def _rec(cls, endian, **values):
    rec = cls("V4", endian)
    for key, value in values.items():
        rec.set_value(key, value)
    return rec


def build_records(wafers, bins, lot, part_type, endian_name, timestamp, retest_bit):
    """Return the list of Semi-ATE record objects, in file order."""
    e = "<" if endian_name == "little" else ">"
    # Semi-ATE's FAR defaults CPU_TYPE to the *host* CPU, whatever endian the
    # record was created with, so it must be set explicitly.
    cpu_type = 2 if endian_name == "little" else 1

    recs = [
        _rec(STDF.FAR, e, CPU_TYPE=cpu_type, STDF_VER=4),
        _rec(
            STDF.MIR, e,
            SETUP_T=timestamp, START_T=timestamp, STAT_NUM=1,
            LOT_ID=lot, PART_TYP=part_type,
            JOB_NAM="stdf_writer", EXEC_TYP="Semi-ATE-STDF", EXEC_VER=STDF.__version__,
        ),
    ]

    hbin_cnt = {b["number"]: 0 for b in bins}
    sbin_cnt = {b["number"]: 0 for b in bins}
    total = retests = good = 0
    tested = set()  # (wafer id, x, y) already written

    for w in wafers:
        recs.append(_rec(STDF.WIR, e, HEAD_NUM=1, SITE_GRP=255, START_T=timestamp, WAFER_ID=w["id"]))
        w_total = w_retests = w_good = 0
        for p in w["parts"]:
            key = (w["id"], p["x"], p["y"])
            flags = 0 if p["pass"] else 0x08
            if key in tested:
                flags |= 1 << retest_bit
                w_retests += 1
            tested.add(key)
            recs.append(_rec(STDF.PIR, e, HEAD_NUM=1, SITE_NUM=p["site"]))
            recs.append(_rec(
                STDF.PRR, e,
                HEAD_NUM=1, SITE_NUM=p["site"],
                # An int is the reliable way to set a B*1 field in Semi-ATE;
                # its list form is MSB first (list[0] is bit 7).
                PART_FLG=flags,
                NUM_TEST=0,
                HARD_BIN=p["hard_bin"], SOFT_BIN=p["soft_bin"],
                X_COORD=p["x"], Y_COORD=p["y"],
                TEST_T=p["test_time_ms"],
            ))
            hbin_cnt[p["hard_bin"]] += 1
            sbin_cnt[p["soft_bin"]] += 1
            w_total += 1
            w_good += 1 if p["pass"] else 0
        recs.append(_rec(
            STDF.WRR, e,
            HEAD_NUM=1, SITE_GRP=255, FINISH_T=timestamp,
            PART_CNT=w_total, RTST_CNT=w_retests, ABRT_CNT=0, GOOD_CNT=w_good,
            WAFER_ID=w["id"],
        ))
        total += w_total
        retests += w_retests
        good += w_good

    for b in bins:
        recs.append(_rec(
            STDF.HBR, e,
            HEAD_NUM=255, SITE_NUM=0, HBIN_NUM=b["number"], HBIN_CNT=hbin_cnt[b["number"]],
            HBIN_PF="P" if b["pass"] else "F", HBIN_NAM=b["name"],
        ))
    for b in bins:
        recs.append(_rec(
            STDF.SBR, e,
            HEAD_NUM=255, SITE_NUM=0, SBIN_NUM=b["number"], SBIN_CNT=sbin_cnt[b["number"]],
            SBIN_PF="P" if b["pass"] else "F", SBIN_NAM=b["name"],
        ))
    recs.append(_rec(
        STDF.PCR, e,
        HEAD_NUM=255, SITE_NUM=0, PART_CNT=total, RTST_CNT=retests, ABRT_CNT=0, GOOD_CNT=good,
    ))
    recs.append(_rec(STDF.MRR, e, FINISH_T=timestamp))
    return recs


def write_file(path, records):
    # Semi-ATE serialises a record through __repr__(), which returns bytes
    # (so the builtin repr() cannot be used on it).
    data = b"".join(r.__repr__() for r in records)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".stdf_writer.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return len(data)


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description="Write an STDF V4 file with Semi-ATE-STDF.")
    ap.add_argument("--out", required=True, help="output STDF file")
    ap.add_argument("--endian", required=True, choices=("little", "big"))
    ap.add_argument("--lot", required=True, help="MIR.LOT_ID")
    ap.add_argument("--part-type", required=True, help="MIR.PART_TYP")
    ap.add_argument("--spec", required=True, help="JSON spec of wafers, parts and bins")
    ap.add_argument("--timestamp", type=int, default=DEFAULT_TIMESTAMP,
                    help="SETUP_T/START_T/FINISH_T, seconds since 1970 (default %(default)s)")
    ap.add_argument("--retest-bit", type=int, choices=(0, 1), default=0,
                    help="PART_FLG bit set on a repeated die (default %(default)s)")
    args = ap.parse_args(argv)

    try:
        if not 0 <= args.timestamp <= 4294967295:
            raise SpecError("--timestamp: %d does not fit STDF U*4" % args.timestamp)
        lot = _text(args.lot, "--lot")
        part_type = _text(args.part_type, "--part-type")
    except SpecError as exc:
        print("%s: bad argument: %s" % (PROG, exc), file=sys.stderr)
        return 2

    try:
        wafers, bins = load_spec(args.spec)
        records = build_records(wafers, bins, lot, part_type, args.endian, args.timestamp, args.retest_bit)
    except SpecError as exc:
        print("%s: bad spec: %s" % (PROG, exc), file=sys.stderr)
        return 2
    except STDF.STDFError as exc:  # a value Semi-ATE refused that the checks above let through
        print("%s: bad spec: Semi-ATE-STDF refused a value: %s" % (PROG, exc), file=sys.stderr)
        return 2

    try:
        size = write_file(args.out, records)
    except OSError as exc:
        print("%s: cannot write %s: %s" % (PROG, args.out, exc.strerror or exc), file=sys.stderr)
        return 1
    except STDF.STDFError as exc:
        print("%s: Semi-ATE-STDF could not serialise a record: %s" % (PROG, exc), file=sys.stderr)
        return 1

    print("WROTE %s %d" % (args.out, size), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
