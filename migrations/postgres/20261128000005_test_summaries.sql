-- Test data, second form.
-- * Files get a number, so each of the millions of per-result rows carries a small key.
-- * A file records its stage (wafer probe or final test), the lot's route step when it arrived,
--   how it arrived, and when it was tested.
-- * Per-wafer summaries (each die's first and final result, result counts per bin) are kept at
--   import, so yields and maps never scan the per-result rows; those stay the record that every
--   figure is traced back to (file and position in the file).
-- * The bins and parametric statistics a file carries, and each product's authoritative bin table.

CREATE TABLE test_files_v2 (
    num           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    bytes         BIGINT NOT NULL,
    orientation   TEXT,
    part_results  BIGINT NOT NULL,
    -- MIR START_T, when the file gives it.
    tested_at     TIMESTAMPTZ,
    imported_at   TIMESTAMPTZ NOT NULL,
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
    file_num      BIGINT NOT NULL,
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
    PRIMARY KEY (file_num, seq)
);
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
    file_num   BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    bin        BIGINT NOT NULL,
    name       TEXT NOT NULL,
    pass_fail  TEXT NOT NULL,
    PRIMARY KEY (file_num, kind, bin)
);

-- Parametric results (PTR) per file, wafer and test.
CREATE TABLE test_parametrics (
    file_num    BIGINT NOT NULL,
    wafer       TEXT NOT NULL,
    test_num    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    units       TEXT NOT NULL,
    low_limit   DOUBLE PRECISION,
    high_limit  DOUBLE PRECISION,
    count       BIGINT NOT NULL,
    fails       BIGINT NOT NULL,
    invalid     BIGINT NOT NULL,
    mean        DOUBLE PRECISION,
    stdev       DOUBLE PRECISION,
    min_value   DOUBLE PRECISION,
    max_value   DOUBLE PRECISION,
    PRIMARY KEY (file_num, wafer, test_num)
);

-- Per lot, stage and wafer: every die's first and final result, and result counts per bin
-- outcome, packed (see pilotline_yield::WaferSummary). Rebuilt from test_results when missing.
CREATE TABLE test_wafers (
    lot_id   TEXT NOT NULL,
    stage    TEXT NOT NULL,
    wafer    TEXT NOT NULL,
    dies     BYTEA NOT NULL,
    results  BYTEA NOT NULL,
    PRIMARY KEY (lot_id, stage, wafer)
);

CREATE INDEX test_wafers_wafer_idx ON test_wafers (wafer);

-- Files refused (unreadable, or no lot to link to), so whoever sent them can see why.
CREATE TABLE test_file_rejections (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name     TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    source   TEXT NOT NULL,
    detail   TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    by_user  TEXT NOT NULL
);

-- Each product's bin table (hard bins): authoritative for pass/fail.
CREATE TABLE product_bins (
    product   TEXT NOT NULL,
    bin       BIGINT NOT NULL,
    name      TEXT NOT NULL,
    pass      BOOLEAN NOT NULL,
    category  TEXT NOT NULL,
    colour    TEXT,
    PRIMARY KEY (product, bin)
);
