-- Rollups of numeric samples per tool, point and bucket (1 minute, 1 hour): count, min, max,
-- sum, and the first and last value with their times. A month's chart reads a few thousand
-- rows instead of millions; rollups outlive the raw samples they summarise.
CREATE TABLE sample_rollups (
    equipment_id  TEXT NOT NULL,
    point         TEXT NOT NULL,
    -- Bucket width in seconds: 60 or 3600.
    width         INTEGER NOT NULL,
    -- Bucket start.
    bucket        TEXT NOT NULL,
    count         INTEGER NOT NULL,
    min_value     REAL NOT NULL,
    max_value     REAL NOT NULL,
    sum_value     REAL NOT NULL,
    first_at      TEXT NOT NULL,
    first_value   REAL NOT NULL,
    last_at       TEXT NOT NULL,
    last_value    REAL NOT NULL,
    PRIMARY KEY (equipment_id, width, bucket, point)
) WITHOUT ROWID;

-- How far each tool's rollups are complete: every bucket before `rolled_1m` (`rolled_1h`) is
-- rolled up. Storing samples older than a mark moves it back, so late data (a replayed spool)
-- is rolled up again.
CREATE TABLE rollup_progress (
    equipment_id  TEXT PRIMARY KEY,
    rolled_1m     TEXT NOT NULL,
    rolled_1h     TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO rollup_progress (equipment_id, rolled_1m, rolled_1h)
    SELECT equipment_id, MIN(at), MIN(at) FROM equipment_samples GROUP BY equipment_id;
