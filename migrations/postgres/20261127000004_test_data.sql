-- Test data: STDF files imported, linked to a lot, with every part result (die) they hold.
-- Yield is always computed from the part results, never from the files' summary records.

-- Lots known only from test data (imported with --create-lots): data from outside the line.
CREATE TABLE external_lots (
    id          TEXT PRIMARY KEY,
    part_type   TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE test_files (
    -- SHA-256 of the file's bytes as read: importing the same file twice stores it once.
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    lot_id        TEXT NOT NULL,
    file_lot      TEXT NOT NULL,
    part_type     TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    -- Wafer orientation from the WCR: flat, positive X, positive Y (e.g. "DRU"), if given.
    orientation   TEXT,
    part_results  BIGINT NOT NULL,
    imported_at   TIMESTAMPTZ NOT NULL,
    imported_by   TEXT NOT NULL
);
CREATE INDEX test_files_lot_idx ON test_files (lot_id);

CREATE TABLE test_parts (
    file_id       TEXT NOT NULL,
    -- Position of the part result in the file (test order).
    seq           BIGINT NOT NULL,
    wafer         TEXT NOT NULL,
    x             BIGINT NOT NULL,
    y             BIGINT NOT NULL,
    site          BIGINT NOT NULL,
    hard_bin      BIGINT NOT NULL,
    soft_bin      BIGINT NOT NULL,
    failed_flag   BIGINT NOT NULL,
    flag_invalid  BIGINT NOT NULL,
    test_time_ms  BIGINT NOT NULL,
    PRIMARY KEY (file_id, seq)
);
