-- Singleton jobs under leases: each background job that must run on exactly one replica (the
-- Q-time monitor, the drop folder, rollups, retention, key expiry) and each Modbus tool a
-- collector polls is held by one process until its lease expires. A holder renews its lease
-- well before then; another process takes an expired lease over. `epoch` counts the changes
-- of holder (a fencing token: work done under an older epoch is known to be stale).
CREATE TABLE job_leases (
    job          TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    epoch        BIGINT NOT NULL,
    acquired_at  TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX job_leases_holder_idx ON job_leases (holder);
