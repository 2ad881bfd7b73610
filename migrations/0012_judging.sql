-- Issue 16 (legally right judging): measuring ranges per device channel, the stated precision of a
-- limit, and the alert's detail (what the engine saw: over range, pre-warning basis, flags per pollutant).

-- An analyser channel's measuring range in the pollutant's canonical unit. HJ 212 flag T means the
-- reading is above range_upper; normal values outside the range are implausible.
CREATE TABLE device_ranges (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    integer NOT NULL REFERENCES devices (id),
    pollutant    text NOT NULL REFERENCES pollutants (code),
    range_lower  double precision,
    range_upper  double precision,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, pollutant),
    CHECK (range_lower IS NULL OR range_upper IS NULL OR range_lower < range_upper)
);

-- Decimals of the limit as the standard writes it (GB/T 8170-2008 rounding); NULL: those of the value.
ALTER TABLE limits ADD COLUMN decimals smallint CHECK (decimals BETWEEN 0 AND 6);

-- The engine's detail of an alert, for the words people read (SMS, reports).
ALTER TABLE alerts ADD COLUMN detail jsonb NOT NULL DEFAULT '{}';
