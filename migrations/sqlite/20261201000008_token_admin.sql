-- Token administration: a token is listed by its id and the first characters of its clear
-- text (never the rest), may expire, and a user may be disabled (all its tokens stop at once).
ALTER TABLE api_tokens ADD COLUMN prefix TEXT;
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE users ADD COLUMN disabled_at TEXT;
CREATE INDEX api_tokens_user_idx ON api_tokens (user_name);
