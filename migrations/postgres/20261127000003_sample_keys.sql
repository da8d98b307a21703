-- Samples are keyed by tool, point and time: a replayed spool or a redelivered MQTT message
-- stores nothing twice.

DELETE FROM equipment_samples WHERE id NOT IN
    (SELECT MIN(id) FROM equipment_samples GROUP BY equipment_id, point, at);
DROP INDEX equipment_samples_point_idx;
CREATE UNIQUE INDEX equipment_samples_key ON equipment_samples (equipment_id, point, at);
