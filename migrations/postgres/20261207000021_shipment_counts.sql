-- The platform's yearly figures (lots and wafers shipped in a year) come from per-day counters
-- kept as lots ship, not from a count of the year's shipped lots: the dashboard reads at most
-- 366 rows however many lots the line ships. A shipped lot never changes again; the counters
-- follow a lot's change to `shipped` (and a lot written already shipped), in the same
-- transaction.
CREATE TABLE lot_shipment_days (
    day     TEXT PRIMARY KEY,           -- UTC day of the ship, YYYY-MM-DD
    lots    BIGINT NOT NULL,
    wafers  BIGINT NOT NULL
);

CREATE FUNCTION lot_shipment_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lot_shipment_days (day, lots, wafers)
    VALUES (to_char(NEW.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 1, NEW.wafer_count)
    ON CONFLICT (day) DO UPDATE
        SET lots = lot_shipment_days.lots + 1,
            wafers = lot_shipment_days.wafers + EXCLUDED.wafers;
    RETURN NULL;
END;
$$;

CREATE TRIGGER lot_shipped_insert AFTER INSERT ON lots FOR EACH ROW
    WHEN (NEW.state = 'shipped') EXECUTE FUNCTION lot_shipment_count();
CREATE TRIGGER lot_shipped_update AFTER UPDATE OF state ON lots FOR EACH ROW
    WHEN (NEW.state = 'shipped' AND OLD.state <> 'shipped') EXECUTE FUNCTION lot_shipment_count();

INSERT INTO lot_shipment_days (day, lots, wafers)
    SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), COUNT(*), COALESCE(SUM(wafer_count), 0)
    FROM lots WHERE state = 'shipped'
    GROUP BY 1;

-- The count it replaces read this index.
DROP INDEX lots_shipped_at_idx;
