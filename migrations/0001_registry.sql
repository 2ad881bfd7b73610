-- Registry: districts, the pollutant catalogue, plants, devices, limits, recipients,
-- escalation chains, maintenance windows, users and the audit log.

CREATE TABLE districts (
    code        text PRIMARY KEY,
    name_zh     text NOT NULL,
    name_en     text NOT NULL
);

-- Filled from envmon/data/pollutants.toml by `envmon migrate` (the file is the source of truth).
CREATE TABLE pollutants (
    code             text PRIMARY KEY,
    name_zh          text NOT NULL,
    name_en          text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('water', 'gas', 'safety')),
    canonical_unit   text NOT NULL,
    protocol_unit    text NOT NULL,
    protocol_factor  double precision NOT NULL CHECK (protocol_factor > 0)
);

CREATE TABLE sites (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code               text NOT NULL UNIQUE,
    name_zh            text NOT NULL,
    name_en            text NOT NULL,
    district           text NOT NULL REFERENCES districts (code),
    industry           text NOT NULL,
    permit_number      text,
    address_zh         text,
    address_en         text,
    latitude           double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude          double precision CHECK (longitude BETWEEN -180 AND 180),
    eia_approval       text,
    notes              text,
    enforcement_notes  text,
    contacts           jsonb NOT NULL DEFAULT '[]',
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_district ON sites (district);

-- integer ids: readings carry device_id on every row, so it is kept 4 bytes.
CREATE TABLE devices (
    id                          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mn                          text NOT NULL UNIQUE,
    site_id                     bigint NOT NULL REFERENCES sites (id),
    point_kind                  text NOT NULL CHECK (point_kind IN ('outfall', 'stack', 'area')),
    point_name_zh               text NOT NULL,
    point_name_en               text NOT NULL,
    kind                        text NOT NULL CHECK (kind IN ('water_analyser', 'cems', 'gas_detector')),
    transport                   text NOT NULL CHECK (transport IN ('mqtt', 'hj212')),
    system_code                 text NOT NULL,
    model                       text,
    pollutants                  text[] NOT NULL,
    reporting_interval_seconds  integer NOT NULL CHECK (reporting_interval_seconds > 0),
    hj212_password              text,
    installed_on                date,
    last_calibrated_on          date,
    active                      boolean NOT NULL DEFAULT true,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_site ON devices (site_id);

-- A limit is data: which value applies, from which legal source, on which basis, and when.
CREATE TABLE limits (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope               text NOT NULL CHECK (scope IN ('default', 'site', 'device')),
    site_id             bigint REFERENCES sites (id),
    device_id           integer REFERENCES devices (id),
    pollutant           text NOT NULL REFERENCES pollutants (code),
    scheme              text NOT NULL CHECK (scheme IN ('discharge', 'gas_alarm')),
    basis               text NOT NULL CHECK (basis IN ('instant', 'hour', 'day')),
    direction           text NOT NULL CHECK (direction IN ('upper', 'lower', 'range')),
    lower_value         double precision,
    upper_value         double precision,
    warning_ratio       double precision CHECK (warning_ratio > 0 AND warning_ratio < 1),
    severe_multiple     double precision CHECK (severe_multiple > 1),
    level2_lower_value  double precision,
    level2_upper_value  double precision,
    unit                text NOT NULL,
    source              text NOT NULL,
    preset              text,
    valid_from          timestamptz NOT NULL DEFAULT '2000-01-01 00:00:00+00',
    valid_to            timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((scope = 'default' AND site_id IS NULL AND device_id IS NULL)
        OR (scope = 'site' AND site_id IS NOT NULL AND device_id IS NULL)
        OR (scope = 'device' AND device_id IS NOT NULL AND site_id IS NULL)),
    CHECK ((direction = 'upper' AND upper_value IS NOT NULL)
        OR (direction = 'lower' AND lower_value IS NOT NULL)
        OR (direction = 'range' AND lower_value < upper_value)),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX limits_natural_key
    ON limits (scope, coalesce(site_id, 0), coalesce(device_id, 0), pollutant, basis, valid_from);
CREATE INDEX limits_pollutant ON limits (pollutant);

CREATE TABLE recipients (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    phone       text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    locale      text NOT NULL CHECK (locale IN ('zh-CN', 'en')),
    role        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Routing: a chain matches alerts by district, industry, site and severity (empty = any).
CREATE TABLE escalation_chains (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                     text NOT NULL UNIQUE,
    name                     text NOT NULL,
    districts                text[] NOT NULL DEFAULT '{}',
    industries               text[] NOT NULL DEFAULT '{}',
    site_codes               text[] NOT NULL DEFAULT '{}',
    categories               text[] NOT NULL DEFAULT '{}',
    severities               text[] NOT NULL DEFAULT '{}',
    repeat_interval_seconds  integer NOT NULL CHECK (repeat_interval_seconds > 0),
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE escalation_steps (
    chain_id       bigint NOT NULL REFERENCES escalation_chains (id) ON DELETE CASCADE,
    position       smallint NOT NULL CHECK (position >= 0),
    delay_seconds  integer NOT NULL CHECK (delay_seconds >= 0),
    recipient_id   bigint NOT NULL REFERENCES recipients (id),
    PRIMARY KEY (chain_id, position, recipient_id)
);

CREATE TABLE maintenance_windows (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint REFERENCES sites (id),
    device_id   integer REFERENCES devices (id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (site_id IS NOT NULL OR device_id IS NOT NULL)
);

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    display_name   text NOT NULL,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('viewer', 'operator', 'inspector', 'admin')),
    districts      text[] NOT NULL DEFAULT '{}',
    site_codes     text[] NOT NULL DEFAULT '{}',
    recipient_id   bigint REFERENCES recipients (id),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time        timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_key  text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_key, time DESC);
