-- The alert engine's catch-up (alerts/catchup.py) reads the readings received since its last snapshot
-- whenever it restarts or its bus reconnects: a broker killed before its autosave forgets the batches it
-- held for the engine. Rows are appended in arrival order, so a BRIN index on received_at answers
-- "received in the last minutes" at a few pages, and inserts pay no second B-tree.
CREATE INDEX readings_received_brin ON readings USING brin (received_at) WITH (pages_per_range = 32);
