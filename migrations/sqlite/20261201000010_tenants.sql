-- Tenants as master data: customers belong to one, products (designs) and lots are owned by
-- one, and a suspended or closed tenant's people are refused.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
INSERT INTO tenants (id, name, status, created_at)
SELECT t, t, 'active', strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z' FROM (
    SELECT tenant AS t FROM users WHERE tenant IS NOT NULL
    UNION SELECT tenant FROM products WHERE tenant IS NOT NULL
    UNION SELECT tenant FROM lots WHERE tenant IS NOT NULL
) AS known;
