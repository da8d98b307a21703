-- Compact telemetry. A raw sample is four small columns in one clustered key, and nothing else:
-- tools and points are numbered (`sample_tools`, `sample_points`: a row carries two small
-- integers instead of two names), times are integer microseconds since 1970, and `value` has no
-- type affinity, so a number is stored as a REAL (or as an INTEGER when it is integral: flags,
-- counts, states) and a text value as TEXT. The lot a sample belongs to is no longer copied into
-- every row: it is the lot of the tool's run at the sample's time (`equipment_runs`).

CREATE TABLE sample_tools (
    id            INTEGER PRIMARY KEY,
    equipment_id  TEXT NOT NULL UNIQUE
);

-- A tool's points, numbered from 1 in the order they first sent a sample.
CREATE TABLE sample_points (
    tool  INTEGER NOT NULL REFERENCES sample_tools (id),
    id    INTEGER NOT NULL,
    name  TEXT NOT NULL,
    PRIMARY KEY (tool, id),
    UNIQUE (tool, name)
) WITHOUT ROWID;

-- Keyed by tool, time and point: a batch of readings appends at each tool's end of the B-tree,
-- and a replayed or redelivered sample finds its key taken.
CREATE TABLE samples (
    tool   INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    point  INTEGER NOT NULL,
    value,
    PRIMARY KEY (tool, at, point)
) WITHOUT ROWID;

-- Each run of a lot on a tool, from track-in to track-out (open while it runs): the samples
-- taken then are the lot's process data, kept as long as the lot's retention says.
CREATE TABLE equipment_runs (
    equipment_id  TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    lot_id        TEXT NOT NULL,
    ended_at      INTEGER,
    -- The run's raw samples have been deleted (the lot's raw retention passed).
    purged        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (equipment_id, started_at, lot_id)
) WITHOUT ROWID;
-- The runs whose raw samples retention has still to delete, oldest first.
CREATE INDEX equipment_runs_unpurged ON equipment_runs (equipment_id, started_at) WHERE purged = 0;

-- A lot transaction's track-in and track-out events open and close its run, in the statement
-- that appends the event.
CREATE TRIGGER equipment_run_opened AFTER INSERT ON lot_events
WHEN NEW.kind = 'tracked_in'
BEGIN
    INSERT OR IGNORE INTO equipment_runs (equipment_id, started_at, lot_id)
    VALUES (json_extract(NEW.change, '$.equipment'), CAST(strftime('%s', substr(NEW.at, 1, 19)) AS INTEGER) * 1000000 + CAST(substr(NEW.at, 21, 6) AS INTEGER), NEW.lot_id);
END;
CREATE TRIGGER equipment_run_closed AFTER INSERT ON lot_events
WHEN NEW.kind = 'tracked_out'
BEGIN
    UPDATE equipment_runs SET ended_at = CAST(strftime('%s', substr(NEW.at, 1, 19)) AS INTEGER) * 1000000 + CAST(substr(NEW.at, 21, 6) AS INTEGER)
    WHERE equipment_id = json_extract(NEW.change, '$.equipment') AND lot_id = NEW.lot_id
      AND ended_at IS NULL;
END;

INSERT INTO sample_tools (equipment_id)
    SELECT DISTINCT equipment_id FROM equipment_samples ORDER BY equipment_id;
INSERT INTO sample_points (tool, id, name)
    SELECT t.id, ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY p.point), p.point
    FROM (SELECT DISTINCT equipment_id, point FROM equipment_samples) p
    JOIN sample_tools t ON t.equipment_id = p.equipment_id;
INSERT INTO samples (tool, at, point, value)
    SELECT t.id,
           CAST(strftime('%s', substr(s.at, 1, 19)) AS INTEGER) * 1000000 + CAST(substr(s.at, 21, 6) AS INTEGER),
           p.id, COALESCE(s.number, s.text)
    FROM equipment_samples s
    JOIN sample_tools t ON t.equipment_id = s.equipment_id
    JOIN sample_points p ON p.tool = t.id AND p.name = s.point
    ORDER BY s.equipment_id, s.at, s.point;
DROP TABLE equipment_samples;

INSERT OR IGNORE INTO equipment_runs (equipment_id, started_at, lot_id, ended_at)
    SELECT json_extract(i.change, '$.equipment'),
           CAST(strftime('%s', substr(i.at, 1, 19)) AS INTEGER) * 1000000 + CAST(substr(i.at, 21, 6) AS INTEGER),
           i.lot_id,
           (SELECT CAST(strftime('%s', substr(o.at, 1, 19)) AS INTEGER) * 1000000 + CAST(substr(o.at, 21, 6) AS INTEGER)
            FROM lot_events o WHERE o.lot_id = i.lot_id AND o.kind = 'tracked_out'
              AND json_extract(o.change, '$.equipment') = json_extract(i.change, '$.equipment')
              AND o.seq > i.seq
            ORDER BY o.seq LIMIT 1)
    FROM lot_events i WHERE i.kind = 'tracked_in';

-- `equipment_latest.lot_id` is no longer written or read: the runs say which lot a latest value
-- belongs to.

-- Retention: every raw sample of the tool before this time (microseconds) that was not taken
-- during a lot's run is deleted.
ALTER TABLE rollup_progress ADD COLUMN raw_purged_until INTEGER NOT NULL DEFAULT 0;
