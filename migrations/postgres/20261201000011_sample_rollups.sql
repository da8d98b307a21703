-- Rollups of numeric samples per tool, point and bucket (1 minute, 1 hour): count, min, max,
-- sum, and the first and last value with their times. A month's chart reads a few thousand
-- rows instead of millions; rollups outlive the raw samples they summarise.
CREATE TABLE sample_rollups (
    equipment_id  TEXT NOT NULL,
    point         TEXT NOT NULL,
    -- Bucket width in seconds: 60 or 3600.
    width         INTEGER NOT NULL,
    -- Bucket start.
    bucket        TIMESTAMPTZ NOT NULL,
    count         BIGINT NOT NULL,
    min_value     DOUBLE PRECISION NOT NULL,
    max_value     DOUBLE PRECISION NOT NULL,
    sum_value     DOUBLE PRECISION NOT NULL,
    first_at      TIMESTAMPTZ NOT NULL,
    first_value   DOUBLE PRECISION NOT NULL,
    last_at       TIMESTAMPTZ NOT NULL,
    last_value    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (equipment_id, width, bucket, point)
);

-- How far each tool's rollups are complete: every bucket before `rolled_1m` (`rolled_1h`) is
-- rolled up. Storing samples older than a mark moves it back, so late data (a replayed spool)
-- is rolled up again. Storing samples locks the tool's row, so the rollup job (which locks it
-- too) never reads a slice while samples of it are being committed.
CREATE TABLE rollup_progress (
    equipment_id  TEXT PRIMARY KEY,
    rolled_1m     TIMESTAMPTZ NOT NULL,
    rolled_1h     TIMESTAMPTZ NOT NULL
);
INSERT INTO rollup_progress (equipment_id, rolled_1m, rolled_1h)
    SELECT equipment_id, MIN(at), MIN(at) FROM equipment_samples GROUP BY equipment_id;
