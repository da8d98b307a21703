-- PostgreSQL puts row-level security on the lots and their test data here. SQLite has no
-- row-level security: the store's tenant filters are its only wall; this migration keeps the
-- two backends' histories numbered alike.
SELECT 1;
