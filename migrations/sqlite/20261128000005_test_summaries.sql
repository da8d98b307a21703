-- Test data, second form.
-- * Files get a number, so each of the millions of per-result rows carries a small key.
-- * A file records its stage (wafer probe or final test), the lot's route step when it arrived,
--   how it arrived, and when it was tested.
-- * Per-wafer summaries (each die's first and final result, result counts per bin) are kept at
--   import, so yields and maps never scan the per-result rows; those stay the record that every
--   figure is traced back to (file and position in the file).
-- * The bins and parametric statistics a file carries, and each product's authoritative bin table.

CREATE TABLE test_files_v2 (
    num           INTEGER PRIMARY KEY,
    -- SHA-256 of the file's bytes as read: importing the same file twice stores it once.
    id            TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    lot_id        TEXT NOT NULL,
    file_lot      TEXT NOT NULL,
    part_type     TEXT NOT NULL,
    -- 'probe' (wafer sort, CP: the file has wafers) or 'final' (final test, FT).
    stage         TEXT NOT NULL,
    -- MIR TEST_COD as written (e.g. WS1, FT).
    test_code     TEXT NOT NULL,
    -- The MES lot's route step when the data arrived; NULL for external lots.
    step_id       TEXT,
    -- How the file arrived: cli, upload or drop-folder.
    source        TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    orientation   TEXT,
    part_results  INTEGER NOT NULL,
    -- MIR START_T, when the file gives it.
    tested_at     TEXT,
    imported_at   TEXT NOT NULL,
    imported_by   TEXT NOT NULL
);
INSERT INTO test_files_v2 (id, name, lot_id, file_lot, part_type, stage, test_code, step_id, source,
                           bytes, orientation, part_results, tested_at, imported_at, imported_by)
SELECT f.id, f.name, f.lot_id, f.file_lot, f.part_type,
       CASE WHEN EXISTS (SELECT 1 FROM test_parts p WHERE p.file_id = f.id AND p.wafer <> '')
            THEN 'probe' ELSE 'final' END,
       '', NULL, 'cli', f.bytes, f.orientation, f.part_results, NULL, f.imported_at, f.imported_by
FROM test_files f ORDER BY f.imported_at, f.id;

CREATE TABLE test_results (
    file_num      INTEGER NOT NULL,
    -- Position of the part result in the file (test order).
    seq           INTEGER NOT NULL,
    wafer         TEXT NOT NULL,
    x             INTEGER NOT NULL,
    y             INTEGER NOT NULL,
    site          INTEGER NOT NULL,
    hard_bin      INTEGER NOT NULL,
    soft_bin      INTEGER NOT NULL,
    failed_flag   INTEGER NOT NULL,
    flag_invalid  INTEGER NOT NULL,
    test_time_ms  INTEGER NOT NULL,
    PRIMARY KEY (file_num, seq)
) WITHOUT ROWID;
INSERT INTO test_results
SELECT f.num, p.seq, p.wafer, p.x, p.y, p.site, p.hard_bin, p.soft_bin, p.failed_flag,
       p.flag_invalid, p.test_time_ms
FROM test_parts p JOIN test_files_v2 f ON f.id = p.file_id;

DROP TABLE test_parts;
DROP TABLE test_files;
ALTER TABLE test_files_v2 RENAME TO test_files;
CREATE INDEX test_files_lot_idx ON test_files (lot_id, num);
CREATE INDEX test_files_imported_idx ON test_files (imported_at);

-- Bins as the file's HBR/SBR records name them: shown where the product has no bin table.
CREATE TABLE test_file_bins (
    file_num   INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    bin        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    pass_fail  TEXT NOT NULL,
    PRIMARY KEY (file_num, kind, bin)
) WITHOUT ROWID;

-- Parametric results (PTR) per file, wafer and test.
CREATE TABLE test_parametrics (
    file_num    INTEGER NOT NULL,
    wafer       TEXT NOT NULL,
    test_num    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    units       TEXT NOT NULL,
    low_limit   REAL,
    high_limit  REAL,
    count       INTEGER NOT NULL,
    fails       INTEGER NOT NULL,
    invalid     INTEGER NOT NULL,
    mean        REAL,
    stdev       REAL,
    min_value   REAL,
    max_value   REAL,
    PRIMARY KEY (file_num, wafer, test_num)
) WITHOUT ROWID;

-- Per lot, stage and wafer: every die's first and final result, and result counts per bin
-- outcome, packed (see pilotline_yield::WaferSummary). Rebuilt from test_results when missing.
CREATE TABLE test_wafers (
    lot_id   TEXT NOT NULL,
    stage    TEXT NOT NULL,
    wafer    TEXT NOT NULL,
    dies     BLOB NOT NULL,
    results  BLOB NOT NULL,
    PRIMARY KEY (lot_id, stage, wafer)
) WITHOUT ROWID;

CREATE INDEX test_wafers_wafer_idx ON test_wafers (wafer);

-- Files refused (unreadable, or no lot to link to), so whoever sent them can see why.
CREATE TABLE test_file_rejections (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    source   TEXT NOT NULL,
    detail   TEXT NOT NULL,
    at       TEXT NOT NULL,
    by_user  TEXT NOT NULL
);

-- Each product's bin table (hard bins): authoritative for pass/fail.
CREATE TABLE product_bins (
    product   TEXT NOT NULL,
    bin       INTEGER NOT NULL,
    name      TEXT NOT NULL,
    pass      INTEGER NOT NULL,
    category  TEXT NOT NULL,
    colour    TEXT,
    PRIMARY KEY (product, bin)
);
