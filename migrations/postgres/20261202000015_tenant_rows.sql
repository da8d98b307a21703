-- Row-level security on the lots and their test data, the second wall behind the store's
-- tenant filters. A tenant's reads run as the role `pilotline_tenant` with `pilotline.tenant`
-- set to the tenant (see 20261202000013_mpw.sql); in such a transaction a lot is visible when
-- it is the tenant's own, or an MPW lot carrying one of its designs (bookings, themselves
-- behind row-level security, decide), and test data when its lot is visible. Staff
-- transactions in that role name the scope `*` and see every row. Sessions that never switch
-- role (the platform's own work: lot moves, imports, jobs) are not restricted by these tables'
-- policies; the booking tables stay closed to them unless they name a scope.
CREATE FUNCTION pilotline_tenant_sees_lot(lot TEXT, owner TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT current_user <> 'pilotline_tenant'
        OR current_setting('pilotline.tenant', true) = '*'
        OR owner = current_setting('pilotline.tenant', true)
        OR EXISTS (SELECT 1 FROM mpw_lots m JOIN bookings b ON b.shuttle_id = m.shuttle_id
                   WHERE m.lot_id = lot AND b.status IN ('in_fab', 'delivered'))
$$;

ALTER TABLE lots ENABLE ROW LEVEL SECURITY;
ALTER TABLE lots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON lots USING (pilotline_tenant_sees_lot(id, tenant));

ALTER TABLE wafers ENABLE ROW LEVEL SECURITY;
ALTER TABLE wafers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON wafers
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR EXISTS (SELECT 1 FROM lots l WHERE l.id = wafers.lot_id));

ALTER TABLE lot_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE lot_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON lot_events
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR EXISTS (SELECT 1 FROM lots l WHERE l.id = lot_events.lot_id));

-- External lots (test data from outside the line) are the platform's.
ALTER TABLE external_lots ENABLE ROW LEVEL SECURITY;
ALTER TABLE external_lots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON external_lots
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*');

ALTER TABLE test_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE test_files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON test_files
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR EXISTS (SELECT 1 FROM lots l WHERE l.id = test_files.lot_id));

ALTER TABLE test_wafers ENABLE ROW LEVEL SECURITY;
ALTER TABLE test_wafers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON test_wafers
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR EXISTS (SELECT 1 FROM lots l WHERE l.id = test_wafers.lot_id));

ALTER TABLE test_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE test_results FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON test_results
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR EXISTS (SELECT 1 FROM test_files f WHERE f.num = test_results.file_num));

ALTER TABLE test_parametrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE test_parametrics FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON test_parametrics
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR EXISTS (SELECT 1 FROM test_files f WHERE f.num = test_parametrics.file_num));

ALTER TABLE test_file_bins ENABLE ROW LEVEL SECURITY;
ALTER TABLE test_file_bins FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON test_file_bins
    USING (current_user <> 'pilotline_tenant' OR current_setting('pilotline.tenant', true) = '*'
           OR EXISTS (SELECT 1 FROM test_files f WHERE f.num = test_file_bins.file_num));
