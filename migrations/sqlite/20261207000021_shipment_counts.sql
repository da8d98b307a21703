-- The platform's yearly figures (lots and wafers shipped in a year) come from per-day counters
-- kept as lots ship, not from a count of the year's shipped lots: the dashboard reads at most
-- 366 rows however many lots the line ships. A shipped lot never changes again; the counters
-- follow a lot's change to `shipped` (and a lot written already shipped), in the same
-- transaction.
CREATE TABLE lot_shipment_days (
    day     TEXT PRIMARY KEY,           -- UTC day of the ship, YYYY-MM-DD
    lots    INTEGER NOT NULL,
    wafers  INTEGER NOT NULL
);

CREATE TRIGGER lot_shipped_insert AFTER INSERT ON lots
WHEN NEW.state = 'shipped'
BEGIN
    INSERT INTO lot_shipment_days (day, lots, wafers)
    VALUES (substr(NEW.updated_at, 1, 10), 1, NEW.wafer_count)
    ON CONFLICT (day) DO UPDATE SET lots = lots + 1, wafers = wafers + excluded.wafers;
END;
CREATE TRIGGER lot_shipped_update AFTER UPDATE OF state ON lots
WHEN NEW.state = 'shipped' AND OLD.state <> 'shipped'
BEGIN
    INSERT INTO lot_shipment_days (day, lots, wafers)
    VALUES (substr(NEW.updated_at, 1, 10), 1, NEW.wafer_count)
    ON CONFLICT (day) DO UPDATE SET lots = lots + 1, wafers = wafers + excluded.wafers;
END;

INSERT INTO lot_shipment_days (day, lots, wafers)
    SELECT substr(updated_at, 1, 10), COUNT(*), COALESCE(SUM(wafer_count), 0)
    FROM lots WHERE state = 'shipped'
    GROUP BY 1;

-- The count it replaces read this index.
DROP INDEX lots_shipped_at_idx;
