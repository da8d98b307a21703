-- Signing in to the web interface: a password per user (an argon2id PHC string, never the
-- password), the count of failed sign-ins since the last good one (login throttling), and
-- sessions kept by the SHA-256 of their random cookie value, with the times the idle and
-- absolute timeouts are judged from.
CREATE TABLE user_passwords (
    user_name     TEXT PRIMARY KEY REFERENCES users(name),
    phc           TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    failures      BIGINT NOT NULL DEFAULT 0,
    locked_until  TIMESTAMPTZ
);

CREATE TABLE web_sessions (
    id_hash       TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL REFERENCES users(name),
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_name);
CREATE INDEX web_sessions_created_idx ON web_sessions (created_at);
