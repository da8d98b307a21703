-- A track-out closes its lot's open run on the tool (`ended_at IS NULL`). The primary key
-- (equipment_id, started_at, lot_id) cannot find it without reading every run the tool ever
-- had, so a track-out's cost grew with the tool's history (and a bulk load of lot events
-- grew quadratically). The open runs are few: index just those.
CREATE INDEX equipment_runs_open ON equipment_runs (equipment_id, lot_id) WHERE ended_at IS NULL;
