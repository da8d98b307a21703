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
    route_version      INTEGER NOT NULL,
    step_index         INTEGER NOT NULL,
    state              TEXT NOT NULL,
    equipment          TEXT,
    recipe             TEXT,
    source_lot         TEXT,
    parent             TEXT,
    children           INTEGER NOT NULL,
    units              INTEGER NOT NULL,
    scrapped           INTEGER NOT NULL,
    consumed           INTEGER NOT NULL,
    units_at_track_in  INTEGER NOT NULL,
    arrived_at         TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    version            INTEGER NOT NULL
);
CREATE INDEX unit_lots_source_idx ON unit_lots (source_lot);
CREATE INDEX unit_lots_tenant_idx ON unit_lots (tenant);
CREATE INDEX unit_lots_state_idx ON unit_lots (state, step_index);

CREATE TABLE units (
    num             INTEGER PRIMARY KEY,
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
    x               INTEGER,
    y               INTEGER,
    probe_hard_bin  INTEGER,
    probe_soft_bin  INTEGER,
    pick_reason     TEXT,
    booking         TEXT,
    -- Position in its tray until it has a serial.
    position        INTEGER,
    final_hard_bin  INTEGER,
    final_soft_bin  INTEGER,
    final_pass      INTEGER,
    final_file      INTEGER,
    final_tests     INTEGER NOT NULL DEFAULT 0,
    calibration     TEXT,
    calibrated_at   TEXT,
    calibrated_by   TEXT,
    scrap_reason    TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX units_lot_idx ON units (lot_id, state, num);
CREATE INDEX units_source_idx ON units (source_lot, num);

-- Every move of a unit between unit lots (splits and merges), append-only.
CREATE TABLE unit_moves (
    unit_num  INTEGER NOT NULL,
    from_lot  TEXT NOT NULL,
    to_lot    TEXT NOT NULL,
    at        TEXT NOT NULL
);
CREATE INDEX unit_moves_unit_idx ON unit_moves (unit_num, at);

CREATE TABLE unit_lot_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    lot_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    step_index  INTEGER NOT NULL,
    units       INTEGER NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX unit_lot_events_lot_idx ON unit_lot_events (lot_id, id);
CREATE TRIGGER unit_lot_events_append_only_update BEFORE UPDATE ON unit_lot_events
BEGIN SELECT RAISE(ABORT, 'unit_lot_events is append-only'); END;
CREATE TRIGGER unit_lot_events_append_only_delete BEFORE DELETE ON unit_lot_events
BEGIN SELECT RAISE(ABORT, 'unit_lot_events is append-only'); END;

-- Each run of a unit lot at a step: units in = units out + scrapped.
CREATE TABLE unit_step_counts (
    lot_id      TEXT NOT NULL,
    step_index  INTEGER NOT NULL,
    step_id     TEXT NOT NULL,
    equipment   TEXT NOT NULL,
    recipe      TEXT NOT NULL,
    units_in    INTEGER NOT NULL,
    units_out   INTEGER NOT NULL,
    scrapped    INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT NOT NULL,
    PRIMARY KEY (lot_id, started_at),
    CHECK (units_in = units_out + scrapped)
);

-- Units diced from each wafer lot and how many are in modules, per owning tenant ('' for the
-- platform's): where-used answers its totals from here, whatever the lot's size.
CREATE TABLE lot_unit_counts (
    source_lot  TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    units       INTEGER NOT NULL,
    modules     INTEGER NOT NULL,
    PRIMARY KEY (source_lot, tenant)
);

-- Bought components (ASICs, housings) by supplier lot.
CREATE TABLE component_lots (
    id            TEXT PRIMARY KEY,
    part_number   TEXT NOT NULL,
    supplier      TEXT NOT NULL,
    supplier_lot  TEXT NOT NULL,
    quantity      INTEGER NOT NULL,
    remaining     INTEGER NOT NULL CHECK (remaining >= 0),
    received_at   TEXT NOT NULL,
    received_by   TEXT NOT NULL
);

-- What went into each module, per bill-of-materials item: a tracked part or a component lot.
CREATE TABLE module_parts (
    module_num     INTEGER NOT NULL,
    item           TEXT NOT NULL,
    unit_num       INTEGER,
    component_lot  TEXT,
    quantity       INTEGER NOT NULL,
    at             TEXT NOT NULL,
    PRIMARY KEY (module_num, item)
);
CREATE INDEX module_parts_unit_idx ON module_parts (unit_num) WHERE unit_num IS NOT NULL;
CREATE INDEX module_parts_component_idx ON module_parts (component_lot) WHERE component_lot IS NOT NULL;

-- Each product's calibration schema.
CREATE TABLE calibration_schemas (
    product     TEXT PRIMARY KEY,
    schema      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);

-- The next serial number under each prefix.
CREATE TABLE serial_counters (
    prefix  TEXT PRIMARY KEY,
    next    INTEGER NOT NULL
);
