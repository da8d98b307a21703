-- Samples are keyed by tool, time and point: a replayed spool or a redelivered MQTT message
-- stores nothing twice. In that order the key's index grows at each tool's end instead of
-- touching one page per point. The latest value of every point is kept apart, so reading it
-- never scans the history.

DELETE FROM equipment_samples WHERE id NOT IN
    (SELECT MIN(id) FROM equipment_samples GROUP BY equipment_id, point, at);
DROP INDEX equipment_samples_point_idx;
CREATE UNIQUE INDEX equipment_samples_key ON equipment_samples (equipment_id, at, point);

CREATE TABLE equipment_latest (
    equipment_id  TEXT NOT NULL,
    point         TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    number        DOUBLE PRECISION,
    text          TEXT,
    lot_id        TEXT,
    PRIMARY KEY (equipment_id, point)
);
INSERT INTO equipment_latest (equipment_id, point, at, number, text, lot_id)
    SELECT DISTINCT ON (equipment_id, point) equipment_id, point, at, number, text, lot_id
    FROM equipment_samples ORDER BY equipment_id, point, at DESC;
