-- TimescaleDB keeps readings_1m / readings_1h / readings_1d as continuous aggregates (migration 0004); the plain
-- PostgreSQL variant of this migration rewrites 0032's views so that they read their marks once per query.
SELECT 1;
