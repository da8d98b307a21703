-- MPW shuttles: the line's configuration, process layer tables, shuttles with their capacity
-- pools, bookings with their timeline, design revisions with their precheck verdicts, and
-- layouts. JSON documents (offers, quotes, verdicts, layouts) are stored as text.
CREATE TABLE line_config (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    config      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE TABLE process_layers (
    route_id    TEXT NOT NULL,
    layer       INTEGER NOT NULL,
    datatype    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (route_id, layer, datatype)
);
CREATE TABLE shuttles (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    route_id            TEXT NOT NULL,
    product             TEXT NOT NULL,
    wafer_count         INTEGER NOT NULL,
    status              TEXT NOT NULL,
    booking_opens       TEXT NOT NULL,
    booking_closes      TEXT NOT NULL,
    design_deadline     TEXT NOT NULL,
    drc_freeze          TEXT NOT NULL,
    fab_start           TEXT NOT NULL,
    expected_delivery   TEXT NOT NULL,
    offer               TEXT NOT NULL,
    time_zone           TEXT NOT NULL,
    lot_id              TEXT,
    booking_seq         INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL
);
CREATE INDEX shuttles_by_fab_start ON shuttles (fab_start);
CREATE INDEX shuttles_by_lot ON shuttles (lot_id);
CREATE TABLE shuttle_capacity (
    shuttle_id  TEXT NOT NULL,
    pool        TEXT NOT NULL,
    capacity    INTEGER NOT NULL,
    taken       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (shuttle_id, pool),
    CHECK (taken >= 0 AND taken <= capacity)
);
CREATE TABLE bookings (
    id                  TEXT PRIMARY KEY,
    shuttle_id          TEXT NOT NULL,
    tenant_id           TEXT NOT NULL,
    seq                 INTEGER NOT NULL,
    pool                TEXT NOT NULL,
    claim               INTEGER NOT NULL,
    status              TEXT NOT NULL,
    quote               TEXT NOT NULL,
    submitted_revision  INTEGER,
    fabricated_sha256   TEXT,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (shuttle_id, seq)
);
CREATE INDEX bookings_waitlist ON bookings (shuttle_id, pool, status, seq);
CREATE INDEX bookings_by_tenant ON bookings (tenant_id, shuttle_id, seq);
CREATE TABLE booking_events (
    booking_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    tenant_id   TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (booking_id, seq)
);
CREATE TRIGGER booking_events_no_update BEFORE UPDATE ON booking_events
BEGIN SELECT RAISE(ABORT, 'booking_events is append-only'); END;
CREATE TRIGGER booking_events_no_delete BEFORE DELETE ON booking_events
BEGIN SELECT RAISE(ABORT, 'booking_events is append-only'); END;
CREATE TABLE design_revisions (
    booking_id  TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    passed      INTEGER NOT NULL,
    verdict     TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    PRIMARY KEY (booking_id, revision)
);
CREATE TABLE shuttle_layouts (
    shuttle_id  TEXT PRIMARY KEY,
    layout      TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT
);
