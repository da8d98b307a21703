-- Pilotline foundation schema (PostgreSQL). Migrations are history: never edit an applied file.
-- Timestamps are TIMESTAMPTZ; JSON documents are JSONB.

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    tenant      TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    user_name   TEXT NOT NULL REFERENCES users(name),
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

CREATE TABLE routes (
    id          TEXT NOT NULL,
    version     BIGINT NOT NULL,
    name        TEXT NOT NULL,
    doc         JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE products (
    id             TEXT PRIMARY KEY,
    description    TEXT NOT NULL,
    default_route  TEXT NOT NULL,
    tenant         TEXT,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE equipment (
    id              TEXT PRIMARY KEY,
    equipment_type  TEXT NOT NULL,
    description     TEXT NOT NULL,
    state           TEXT NOT NULL,
    current_lot     TEXT,
    state_since     TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL,
    -- Who made the last state change, why, and for which lot (copied into the event below).
    changed_by      TEXT,
    change_reason   TEXT,
    change_lot      TEXT
);
CREATE INDEX equipment_type_idx ON equipment (equipment_type);

CREATE TABLE equipment_state_events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    equipment_id  TEXT NOT NULL REFERENCES equipment(id),
    from_state    TEXT NOT NULL,
    to_state      TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    lot_id        TEXT,
    user_name     TEXT NOT NULL,
    reason        TEXT
);
CREATE INDEX equipment_state_events_idx ON equipment_state_events (equipment_id, at);

-- Every E10 state change is recorded by the statement that makes it.
CREATE FUNCTION equipment_state_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO equipment_state_events (equipment_id, from_state, to_state, at, lot_id, user_name, reason)
    VALUES (NEW.id, OLD.state, NEW.state, NEW.state_since, NEW.change_lot,
            COALESCE(NEW.changed_by, 'unknown'), NEW.change_reason);
    RETURN NULL;
END $$;
CREATE TRIGGER equipment_state_event AFTER UPDATE OF state ON equipment
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION equipment_state_event();

CREATE TABLE lots (
    id              TEXT PRIMARY KEY,
    product         TEXT NOT NULL,
    route_id        TEXT NOT NULL,
    route_version   BIGINT NOT NULL,
    lot_type        TEXT NOT NULL,
    priority        BIGINT NOT NULL,
    tenant          TEXT,
    state           TEXT NOT NULL,
    step_id         TEXT NOT NULL,
    step_index      BIGINT NOT NULL,
    equipment       TEXT,
    held            BOOLEAN NOT NULL,
    wafer_count     BIGINT NOT NULL,
    parent          TEXT,
    qtime_deadline  TIMESTAMPTZ,
    doc             JSONB NOT NULL,
    version         BIGINT NOT NULL,
    -- Sequence number of the lot's last event in lot_events.
    event_seq       BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX lots_state_step_idx ON lots (state, step_id);
CREATE INDEX lots_product_idx ON lots (product);
CREATE INDEX lots_tenant_idx ON lots (tenant);
CREATE INDEX lots_qtime_idx ON lots (qtime_deadline) WHERE qtime_deadline IS NOT NULL;

CREATE TABLE wafers (
    id      TEXT PRIMARY KEY,
    lot_id  TEXT NOT NULL REFERENCES lots(id),
    slot    BIGINT NOT NULL,
    state   TEXT NOT NULL
);
CREATE INDEX wafers_lot_idx ON wafers (lot_id);

-- The append-only log: audit trail, history and the source of genealogy and cycle time.
CREATE TABLE lot_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lot_id     TEXT NOT NULL REFERENCES lots(id),
    seq        BIGINT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    user_name  TEXT NOT NULL,
    role       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    why        TEXT,
    change       JSONB NOT NULL,
    before_state JSONB,
    after_state  JSONB NOT NULL,
    UNIQUE (lot_id, seq)
);
CREATE FUNCTION lot_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'lot_events is append-only'; END $$;
CREATE TRIGGER lot_events_append_only BEFORE UPDATE OR DELETE ON lot_events
FOR EACH ROW EXECUTE FUNCTION lot_events_append_only();

-- Genealogy edges: split (parent -> child) and merge (merged-away lot -> surviving lot).
CREATE TABLE lot_links (
    from_lot  TEXT NOT NULL REFERENCES lots(id),
    to_lot    TEXT NOT NULL REFERENCES lots(id),
    kind      TEXT NOT NULL,
    wafers    JSONB NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (from_lot, to_lot, kind)
);
CREATE INDEX lot_links_to_idx ON lot_links (to_lot);

-- First answer to each mutating request sent with an Idempotency-Key.
CREATE TABLE idempotency_keys (
    user_name    TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_name, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
