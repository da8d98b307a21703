-- Reads and writes that cost the same however many lots the store holds.

-- Lot lists are paged by id within their filter: one index per filter, ending in id.
DROP INDEX lots_state_step_idx;
DROP INDEX lots_product_idx;
DROP INDEX lots_tenant_idx;
CREATE INDEX lots_state_id_idx ON lots (state, id);
CREATE INDEX lots_step_id_idx ON lots (step_id, id);
CREATE INDEX lots_product_id_idx ON lots (product, id);
CREATE INDEX lots_tenant_state_id_idx ON lots (tenant, state, id);

-- Generated lot ids count per day in a row of their own, not by counting the day's lots.
CREATE TABLE lot_numbers (
    prefix  TEXT PRIMARY KEY,
    last    INTEGER NOT NULL
);
INSERT INTO lot_numbers (prefix, last)
SELECT substr(id, 1, 8), MAX(CAST(substr(id, 9) AS INTEGER)) FROM lots
WHERE parent IS NULL AND id GLOB 'PL[0-9][0-9][0-9][0-9][0-9][0-9][0-9]*'
GROUP BY substr(id, 1, 8);

-- The newest readings first, whatever their parameter.
CREATE INDEX measurements_at_idx ON measurements (at);
