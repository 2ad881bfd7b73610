-- TimescaleDB: nothing to change. Each chunk of the hypertable has its own small time index
-- (created by create_hypertable), which old chunks stop updating, so the plain-PostgreSQL change of
-- this version (a BRIN index instead of a B-tree on time) does not apply.
SELECT 1;
