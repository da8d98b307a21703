-- A tool's E10 state events and a lot's tool runs are written by the store's own statements,
-- as on PostgreSQL (where a trigger per move cost the server a seventh of its time), no
-- longer by triggers on `equipment` and `lot_events`. The rows are the same.
DROP TRIGGER equipment_state_event;
DROP TRIGGER equipment_run_opened;
DROP TRIGGER equipment_run_closed;
