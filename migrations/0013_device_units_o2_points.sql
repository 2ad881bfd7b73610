-- Per-device protocol units, the reference O2 of a flue-gas source, and points of application.
--
-- devices.units: channel code -> the unit that device sends (default: the catalogue's protocol
--   unit); a Cr(VI) logger configured for mg/L is converted as mg/L, not divided by 1000.
-- devices.o2_reference_percent: the reference O2 its corrected flue-gas channels (a21026z ...)
--   are computed at, C = C' x (21 - O2ref) / (21 - O2) (see docs/hj212.md).
-- devices.point_kind gains workshop_outlet (车间或生产设施废水排放口), where first-class pollutants
--   are judged (GB 8978-1996 4.2.1.1, GB 21900-2008 Tables 1-3), apart from the main outfall.
-- limits.point_kinds: the point kinds a site limit applies to (empty: any device measuring it).

ALTER TABLE devices
    ADD COLUMN units jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN o2_reference_percent double precision
        CHECK (o2_reference_percent >= 0 AND o2_reference_percent < 21);

ALTER TABLE devices DROP CONSTRAINT devices_point_kind_check;
ALTER TABLE devices ADD CONSTRAINT devices_point_kind_check
    CHECK (point_kind IN ('outfall', 'workshop_outlet', 'stack', 'area'));

ALTER TABLE limits ADD COLUMN point_kinds text[] NOT NULL DEFAULT '{}';
