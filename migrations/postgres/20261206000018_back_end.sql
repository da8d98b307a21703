-- The back end of the line. A wafer lot is diced into unit lots (trays); their units are its
-- picked dies, each keeping its origin (wafer, x, y, probe bins, MPW booking). Packaging gives
-- a part a serial; final test and calibration are kept with it; a module is a unit too, and
-- what went into it is recorded per bill-of-materials item, so genealogy runs both ways.

CREATE TABLE unit_lots (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    product            TEXT NOT NULL,
    tenant             TEXT,
    route_id           TEXT NOT NULL,
    route_version      BIGINT NOT NULL,
    step_index         BIGINT NOT NULL,
    state              TEXT NOT NULL,
    equipment          TEXT,
    recipe             TEXT,
    source_lot         TEXT,
    parent             TEXT,
    children           BIGINT NOT NULL,
    units              BIGINT NOT NULL,
    scrapped           BIGINT NOT NULL,
    consumed           BIGINT NOT NULL,
    units_at_track_in  BIGINT NOT NULL,
    arrived_at         TIMESTAMPTZ NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    version            BIGINT NOT NULL
);
CREATE INDEX unit_lots_source_idx ON unit_lots (source_lot);
CREATE INDEX unit_lots_tenant_idx ON unit_lots (tenant);
CREATE INDEX unit_lots_state_idx ON unit_lots (state, step_index);

CREATE TABLE units (
    num             BIGSERIAL PRIMARY KEY,
    -- A die's id: wafer:x:y (it moves with the die); a module's: its serial.
    uid             TEXT NOT NULL UNIQUE,
    serial          TEXT UNIQUE,
    kind            TEXT NOT NULL,
    lot_id          TEXT NOT NULL,
    state           TEXT NOT NULL,
    product         TEXT NOT NULL,
    tenant          TEXT,
    source_lot      TEXT,
    wafer           TEXT,
    x               BIGINT,
    y               BIGINT,
    probe_hard_bin  BIGINT,
    probe_soft_bin  BIGINT,
    pick_reason     TEXT,
    booking         TEXT,
    -- Position in its tray until it has a serial.
    position        BIGINT,
    final_hard_bin  BIGINT,
    final_soft_bin  BIGINT,
    final_pass      BIGINT,
    final_file      BIGINT,
    final_tests     BIGINT NOT NULL DEFAULT 0,
    calibration     JSONB,
    calibrated_at   TIMESTAMPTZ,
    calibrated_by   TEXT,
    scrap_reason    TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX units_lot_idx ON units (lot_id, state, num);
CREATE INDEX units_source_idx ON units (source_lot, num);

-- Every move of a unit between unit lots (splits and merges), append-only.
CREATE TABLE unit_moves (
    unit_num  BIGINT NOT NULL,
    from_lot  TEXT NOT NULL,
    to_lot    TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX unit_moves_unit_idx ON unit_moves (unit_num, at);

CREATE TABLE unit_lot_events (
    id          BIGSERIAL PRIMARY KEY,
    lot_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    user_name   TEXT NOT NULL,
    step_index  BIGINT NOT NULL,
    units       BIGINT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX unit_lot_events_lot_idx ON unit_lot_events (lot_id, id);
CREATE FUNCTION unit_lot_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'unit_lot_events is append-only'; END $$;
CREATE TRIGGER unit_lot_events_append_only BEFORE UPDATE OR DELETE ON unit_lot_events
FOR EACH ROW EXECUTE FUNCTION unit_lot_events_append_only();

-- Each run of a unit lot at a step: units in = units out + scrapped.
CREATE TABLE unit_step_counts (
    lot_id      TEXT NOT NULL,
    step_index  BIGINT NOT NULL,
    step_id     TEXT NOT NULL,
    equipment   TEXT NOT NULL,
    recipe      TEXT NOT NULL,
    units_in    BIGINT NOT NULL,
    units_out   BIGINT NOT NULL,
    scrapped    BIGINT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (lot_id, started_at),
    CHECK (units_in = units_out + scrapped)
);

-- Units diced from each wafer lot and how many are in modules, per owning tenant ('' for the
-- platform's): where-used answers its totals from here, whatever the lot's size.
CREATE TABLE lot_unit_counts (
    source_lot  TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    units       BIGINT NOT NULL,
    modules     BIGINT NOT NULL,
    PRIMARY KEY (source_lot, tenant)
);

-- Bought components (ASICs, housings) by supplier lot.
CREATE TABLE component_lots (
    id            TEXT PRIMARY KEY,
    part_number   TEXT NOT NULL,
    supplier      TEXT NOT NULL,
    supplier_lot  TEXT NOT NULL,
    quantity      BIGINT NOT NULL,
    remaining     BIGINT NOT NULL CHECK (remaining >= 0),
    received_at   TIMESTAMPTZ NOT NULL,
    received_by   TEXT NOT NULL
);

-- What went into each module, per bill-of-materials item: a tracked part or a component lot.
CREATE TABLE module_parts (
    module_num     BIGINT NOT NULL,
    item           TEXT NOT NULL,
    unit_num       BIGINT,
    component_lot  TEXT,
    quantity       BIGINT NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (module_num, item)
);
CREATE INDEX module_parts_unit_idx ON module_parts (unit_num) WHERE unit_num IS NOT NULL;
CREATE INDEX module_parts_component_idx ON module_parts (component_lot) WHERE component_lot IS NOT NULL;

-- Each product's calibration schema.
CREATE TABLE calibration_schemas (
    product     TEXT PRIMARY KEY,
    schema      JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL
);

-- The next serial number under each prefix.
CREATE TABLE serial_counters (
    prefix  TEXT PRIMARY KEY,
    next    BIGINT NOT NULL
);

-- Tenants see their own unit lots, units and modules only (the second wall behind the store's
-- filters; see 20261202000015_tenant_rows.sql).
ALTER TABLE unit_lots ENABLE ROW LEVEL SECURITY;
ALTER TABLE unit_lots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON unit_lots
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR tenant = current_setting('pilotline.tenant', true));
ALTER TABLE units ENABLE ROW LEVEL SECURITY;
ALTER TABLE units FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON units
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR tenant = current_setting('pilotline.tenant', true));
ALTER TABLE lot_unit_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE lot_unit_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON lot_unit_counts
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR tenant = current_setting('pilotline.tenant', true));
