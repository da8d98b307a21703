-- MPW results: which lots carry a shuttle's layout (so their probe data is attributed to
-- designs), and the line's measured time per route step (so deliveries can be forecast).

-- A shuttle's MPW lot, and every lot split from one: the trigger follows a split in the
-- statement that records it, so a child carries its parent's layout.
CREATE TABLE mpw_lots (
    lot_id      TEXT PRIMARY KEY,
    shuttle_id  TEXT NOT NULL
);
CREATE INDEX mpw_lots_by_shuttle ON mpw_lots (shuttle_id);
CREATE FUNCTION mpw_lot_split() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'split' THEN
        INSERT INTO mpw_lots (lot_id, shuttle_id)
        SELECT NEW.to_lot, shuttle_id FROM mpw_lots WHERE lot_id = NEW.from_lot
        ON CONFLICT (lot_id) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER mpw_lot_split AFTER INSERT ON lot_links
FOR EACH ROW EXECUTE FUNCTION mpw_lot_split();

-- Per route step, the time from a lot's arrival to its track-out, as a moving average over
-- recent lots (each new lot weighs 1/5), written by the track-out that ends the visit: one row
-- per step, so a forecast reads as many rows as the route has steps, however long the line
-- has run.
CREATE TABLE step_cycle_times (
    route_id    TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    lots        BIGINT NOT NULL,
    mean_s      DOUBLE PRECISION NOT NULL,
    last_s      DOUBLE PRECISION NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (route_id, step_id)
);
