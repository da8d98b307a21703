-- Metrology readings and SPC charts.

-- Every accepted reading: at track-out, through the API or from a CSV upload.
CREATE TABLE measurements (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lot_id      TEXT NOT NULL,
    product     TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    equipment   TEXT,
    recipe      TEXT,
    parameter   TEXT NOT NULL,
    wafer       TEXT,
    site        BIGINT,
    value       DOUBLE PRECISION NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    source      TEXT NOT NULL,
    by_user     TEXT NOT NULL
);
CREATE INDEX measurements_param_idx ON measurements (parameter, at);
CREATE INDEX measurements_lot_idx ON measurements (lot_id, at);

-- A control chart: which readings it plots (parameter plus optional product, step, tool and
-- recipe keys), how, which rules judge it, and what an out-of-control point does.
CREATE TABLE spc_charts (
    id          TEXT PRIMARY KEY,
    doc         JSONB NOT NULL,
    version     BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL
);

-- Control limits, frozen per chart version; a new version only when asked to recompute.
CREATE TABLE spc_chart_versions (
    chart_id     TEXT NOT NULL,
    version      BIGINT NOT NULL,
    limits       JSONB NOT NULL,
    computed_at  TIMESTAMPTZ NOT NULL,
    computed_by  TEXT NOT NULL,
    PRIMARY KEY (chart_id, version)
);
