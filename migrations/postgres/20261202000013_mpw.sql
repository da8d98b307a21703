-- MPW shuttles: the line's configuration, process layer tables, shuttles with their capacity
-- pools, bookings with their timeline, design revisions with their precheck verdicts, and
-- layouts. JSON documents (offers, quotes, verdicts, layouts) are stored as text.
--
-- Row-level security is a second wall around the tenant-owned tables: a transaction names its
-- tenant (`pilotline.tenant`, set per transaction; `*` for platform staff) and switches to the
-- role `pilotline_tenant`, and a row of another tenant is invisible whatever the query says.
-- FORCE applies the policies to the tables' owner too.
CREATE TABLE line_config (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    config      TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE TABLE process_layers (
    route_id    TEXT NOT NULL,
    layer       BIGINT NOT NULL,
    datatype    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (route_id, layer, datatype)
);
CREATE TABLE shuttles (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    route_id            TEXT NOT NULL,
    product             TEXT NOT NULL,
    wafer_count         BIGINT NOT NULL,
    status              TEXT NOT NULL,
    booking_opens       TIMESTAMPTZ NOT NULL,
    booking_closes      TIMESTAMPTZ NOT NULL,
    design_deadline     TIMESTAMPTZ NOT NULL,
    drc_freeze          TIMESTAMPTZ NOT NULL,
    fab_start           TIMESTAMPTZ NOT NULL,
    expected_delivery   TIMESTAMPTZ NOT NULL,
    offer               TEXT NOT NULL,
    time_zone           TEXT NOT NULL,
    lot_id              TEXT,
    booking_seq         BIGINT NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX shuttles_by_fab_start ON shuttles (fab_start);
CREATE INDEX shuttles_by_lot ON shuttles (lot_id);
CREATE TABLE shuttle_capacity (
    shuttle_id  TEXT NOT NULL,
    pool        TEXT NOT NULL,
    capacity    BIGINT NOT NULL,
    taken       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (shuttle_id, pool),
    CHECK (taken >= 0 AND taken <= capacity)
);
CREATE TABLE bookings (
    id                  TEXT PRIMARY KEY,
    shuttle_id          TEXT NOT NULL,
    tenant_id           TEXT NOT NULL,
    seq                 BIGINT NOT NULL,
    pool                TEXT NOT NULL,
    claim               BIGINT NOT NULL,
    status              TEXT NOT NULL,
    quote               TEXT NOT NULL,
    submitted_revision  BIGINT,
    fabricated_sha256   TEXT,
    created_by          TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (shuttle_id, seq)
);
CREATE INDEX bookings_waitlist ON bookings (shuttle_id, pool, status, seq);
CREATE INDEX bookings_by_tenant ON bookings (tenant_id, shuttle_id, seq);
CREATE TABLE booking_events (
    booking_id  TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    tenant_id   TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (booking_id, seq)
);
CREATE FUNCTION booking_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'booking_events is append-only'; END $$;
CREATE TRIGGER booking_events_append_only BEFORE UPDATE OR DELETE ON booking_events
FOR EACH ROW EXECUTE FUNCTION booking_events_append_only();
CREATE TABLE design_revisions (
    booking_id  TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    passed      BOOLEAN NOT NULL,
    verdict     TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (booking_id, revision)
);
CREATE TABLE shuttle_layouts (
    shuttle_id  TEXT PRIMARY KEY,
    layout      TEXT NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL,
    approved_by TEXT,
    approved_at TIMESTAMPTZ
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pilotline_tenant') THEN
        CREATE ROLE pilotline_tenant NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
          WHEN insufficient_privilege THEN
    RAISE NOTICE 'role pilotline_tenant not created (no CREATEROLE): row-level security applies to the owner only';
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pilotline_tenant') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO pilotline_tenant', current_schema());
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO pilotline_tenant', current_schema());
        EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO pilotline_tenant', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pilotline_tenant', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO pilotline_tenant', current_schema());
        BEGIN
            EXECUTE format('GRANT pilotline_tenant TO %I', current_user);
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END IF;
END $$;
ALTER TABLE bookings ENABLE ROW LEVEL SECURITY;
ALTER TABLE bookings FORCE ROW LEVEL SECURITY;
ALTER TABLE booking_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE booking_events FORCE ROW LEVEL SECURITY;
ALTER TABLE design_revisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE design_revisions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON bookings
    USING (current_setting('pilotline.tenant', true) IN ('*', tenant_id))
    WITH CHECK (current_setting('pilotline.tenant', true) IN ('*', tenant_id));
CREATE POLICY tenant_rows ON booking_events
    USING (current_setting('pilotline.tenant', true) IN ('*', tenant_id))
    WITH CHECK (current_setting('pilotline.tenant', true) IN ('*', tenant_id));
CREATE POLICY tenant_rows ON design_revisions
    USING (current_setting('pilotline.tenant', true) IN ('*', tenant_id))
    WITH CHECK (current_setting('pilotline.tenant', true) IN ('*', tenant_id));
