-- Equipment telemetry: samples from the collector, and each tool's communication state.

ALTER TABLE equipment ADD COLUMN comm_stale INTEGER NOT NULL DEFAULT 0;
ALTER TABLE equipment ADD COLUMN comm_since TEXT;

CREATE TABLE equipment_samples (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    equipment_id  TEXT NOT NULL,
    point         TEXT NOT NULL,
    at            TEXT NOT NULL,
    number        REAL,
    text          TEXT,
    -- The lot running on the tool when the sample was taken, if any.
    lot_id        TEXT
);
CREATE INDEX equipment_samples_point_idx ON equipment_samples (equipment_id, point, at);
CREATE INDEX equipment_samples_lot_idx ON equipment_samples (lot_id, at) WHERE lot_id IS NOT NULL;
