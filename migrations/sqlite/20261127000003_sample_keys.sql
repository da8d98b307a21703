-- Samples are keyed by tool, time and point: a replayed spool or a redelivered MQTT message
-- stores nothing twice. The key is the table's clustered primary key (WITHOUT ROWID) in that
-- order, so a batch of readings appends at each tool's end of the B-tree instead of touching
-- one page per point: the write cost that bounds ingest. The latest value of every point is
-- kept apart, so reading it never scans the history.

CREATE TABLE equipment_samples_keyed (
    equipment_id  TEXT NOT NULL,
    at            TEXT NOT NULL,
    point         TEXT NOT NULL,
    number        REAL,
    text          TEXT,
    -- The lot on the tool when the sample was stored, if any.
    lot_id        TEXT,
    PRIMARY KEY (equipment_id, at, point)
) WITHOUT ROWID;
INSERT OR IGNORE INTO equipment_samples_keyed (equipment_id, at, point, number, text, lot_id)
    SELECT equipment_id, at, point, number, text, lot_id FROM equipment_samples ORDER BY id;
DROP TABLE equipment_samples;
ALTER TABLE equipment_samples_keyed RENAME TO equipment_samples;
CREATE INDEX equipment_samples_lot_idx ON equipment_samples (lot_id, at) WHERE lot_id IS NOT NULL;

CREATE TABLE equipment_latest (
    equipment_id  TEXT NOT NULL,
    point         TEXT NOT NULL,
    at            TEXT NOT NULL,
    number        REAL,
    text          TEXT,
    lot_id        TEXT,
    PRIMARY KEY (equipment_id, point)
) WITHOUT ROWID;
INSERT INTO equipment_latest (equipment_id, point, at, number, text, lot_id)
    SELECT s.equipment_id, s.point, s.at, s.number, s.text, s.lot_id FROM equipment_samples s
    JOIN (SELECT equipment_id, point, MAX(at) AS at FROM equipment_samples
          GROUP BY equipment_id, point) m
      ON s.equipment_id = m.equipment_id AND s.point = m.point AND s.at = m.at;
