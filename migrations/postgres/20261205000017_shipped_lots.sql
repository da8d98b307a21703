-- The platform's yearly figures count the lots shipped in a year: a partial index on the
-- shipped lots' last change (a shipped lot never changes again), so the count reads the
-- year's shipped lots only, however many years the line has run.
CREATE INDEX lots_shipped_at_idx ON lots (updated_at) WHERE state = 'shipped';
