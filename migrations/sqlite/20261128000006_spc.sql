-- Metrology readings and SPC charts.

-- Every accepted reading: at track-out, through the API or from a CSV upload.
CREATE TABLE measurements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    lot_id      TEXT NOT NULL,
    product     TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    equipment   TEXT,
    recipe      TEXT,
    parameter   TEXT NOT NULL,
    wafer       TEXT,
    site        INTEGER,
    value       REAL NOT NULL,
    at          TEXT NOT NULL,
    source      TEXT NOT NULL,
    by_user     TEXT NOT NULL
);
CREATE INDEX measurements_param_idx ON measurements (parameter, at);
CREATE INDEX measurements_lot_idx ON measurements (lot_id, at);

-- A control chart: which readings it plots (parameter plus optional product, step, tool and
-- recipe keys), how, which rules judge it, and what an out-of-control point does.
CREATE TABLE spc_charts (
    id          TEXT PRIMARY KEY,
    doc         TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

-- Control limits, frozen per chart version; a new version only when asked to recompute.
CREATE TABLE spc_chart_versions (
    chart_id     TEXT NOT NULL,
    version      INTEGER NOT NULL,
    limits       TEXT NOT NULL,
    computed_at  TEXT NOT NULL,
    computed_by  TEXT NOT NULL,
    PRIMARY KEY (chart_id, version)
);
