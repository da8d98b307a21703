-- Pilotline foundation schema (SQLite). Migrations are history: never edit an applied file.
-- Timestamps are RFC 3339 UTC text; JSON documents are text.

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    tenant      TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL UNIQUE,
    user_name   TEXT NOT NULL REFERENCES users(name),
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE routes (
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    doc         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE products (
    id             TEXT PRIMARY KEY,
    description    TEXT NOT NULL,
    default_route  TEXT NOT NULL,
    tenant         TEXT,
    created_at     TEXT NOT NULL
);

CREATE TABLE equipment (
    id              TEXT PRIMARY KEY,
    equipment_type  TEXT NOT NULL,
    description     TEXT NOT NULL,
    state           TEXT NOT NULL,
    current_lot     TEXT,
    state_since     TEXT NOT NULL,
    version         INTEGER NOT NULL,
    -- Who made the last state change, why, and for which lot (copied into the event below).
    changed_by      TEXT,
    change_reason   TEXT,
    change_lot      TEXT
);
CREATE INDEX equipment_type_idx ON equipment (equipment_type);

CREATE TABLE equipment_state_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    equipment_id  TEXT NOT NULL REFERENCES equipment(id),
    from_state    TEXT NOT NULL,
    to_state      TEXT NOT NULL,
    at            TEXT NOT NULL,
    lot_id        TEXT,
    user_name     TEXT NOT NULL,
    reason        TEXT
);
CREATE INDEX equipment_state_events_idx ON equipment_state_events (equipment_id, at);

-- Every E10 state change is recorded by the statement that makes it.
CREATE TRIGGER equipment_state_event AFTER UPDATE OF state ON equipment
WHEN OLD.state <> NEW.state
BEGIN
    INSERT INTO equipment_state_events (equipment_id, from_state, to_state, at, lot_id, user_name, reason)
    VALUES (NEW.id, OLD.state, NEW.state, NEW.state_since, NEW.change_lot,
            COALESCE(NEW.changed_by, 'unknown'), NEW.change_reason);
END;

CREATE TABLE lots (
    id              TEXT PRIMARY KEY,
    product         TEXT NOT NULL,
    route_id        TEXT NOT NULL,
    route_version   INTEGER NOT NULL,
    lot_type        TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    tenant          TEXT,
    state           TEXT NOT NULL,
    step_id         TEXT NOT NULL,
    step_index      INTEGER NOT NULL,
    equipment       TEXT,
    held            INTEGER NOT NULL,
    wafer_count     INTEGER NOT NULL,
    parent          TEXT,
    qtime_deadline  TEXT,
    doc             TEXT NOT NULL,
    version         INTEGER NOT NULL,
    -- Sequence number of the lot's last event in lot_events.
    event_seq       INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX lots_state_step_idx ON lots (state, step_id);
CREATE INDEX lots_product_idx ON lots (product);
CREATE INDEX lots_tenant_idx ON lots (tenant);
CREATE INDEX lots_qtime_idx ON lots (qtime_deadline) WHERE qtime_deadline IS NOT NULL;

CREATE TABLE wafers (
    id      TEXT PRIMARY KEY,
    lot_id  TEXT NOT NULL REFERENCES lots(id),
    slot    INTEGER NOT NULL,
    state   TEXT NOT NULL
);
CREATE INDEX wafers_lot_idx ON wafers (lot_id);

-- The append-only log: audit trail, history and the source of genealogy and cycle time.
CREATE TABLE lot_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    lot_id     TEXT NOT NULL REFERENCES lots(id),
    seq        INTEGER NOT NULL,
    at         TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    role       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    why        TEXT,
    change       TEXT NOT NULL,
    before_state TEXT,
    after_state  TEXT NOT NULL,
    UNIQUE (lot_id, seq)
);
CREATE TRIGGER lot_events_append_only_update BEFORE UPDATE ON lot_events
BEGIN SELECT RAISE(ABORT, 'lot_events is append-only'); END;
CREATE TRIGGER lot_events_append_only_delete BEFORE DELETE ON lot_events
BEGIN SELECT RAISE(ABORT, 'lot_events is append-only'); END;

-- Genealogy edges: split (parent -> child) and merge (merged-away lot -> surviving lot).
CREATE TABLE lot_links (
    from_lot  TEXT NOT NULL REFERENCES lots(id),
    to_lot    TEXT NOT NULL REFERENCES lots(id),
    kind      TEXT NOT NULL,
    wafers    TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (from_lot, to_lot, kind)
);
CREATE INDEX lot_links_to_idx ON lot_links (to_lot);

-- First answer to each mutating request sent with an Idempotency-Key.
CREATE TABLE idempotency_keys (
    user_name    TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (user_name, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
