-- A tool's E10 state events and a lot's tool runs are written by the store's own statements
-- (for a lot move, parts of the one statement that moves the lot), no longer by row triggers
-- on `equipment` and `lot_events`: a PL/pgSQL trigger call per track-in and track-out cost
-- about a seventh of the server's time per move. The rows are the same.
DROP TRIGGER equipment_state_event ON equipment;
DROP FUNCTION equipment_state_event();
DROP TRIGGER equipment_run_event ON lot_events;
DROP FUNCTION equipment_run_event();
