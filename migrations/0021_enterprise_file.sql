-- Enterprise file (企业档案, issue 19 part 1): each plant's discharge permit with its outlets and
-- permitted limits, EIA approval and acceptance records, enforcement records and uploaded documents.
-- A permit limit that is stricter than the national preset becomes a device-scoped row of `limits`
-- (envmon/registry/permits.py), so the engine, the plant page, SMS and reports judge by it; the
-- row's `permit_id` says it came from the permit.

CREATE TABLE permits (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites (id),
    number      text NOT NULL,
    issued_by   text,
    -- Local calendar days (China Standard Time) as the permit states them, both inclusive.
    valid_from  date NOT NULL,
    valid_to    date NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, number),
    CHECK (valid_to >= valid_from)
);

-- An outlet as the permit numbers it (DW001 ...), and the monitoring devices that stand at it.
CREATE TABLE permit_outlets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    permit_id   bigint NOT NULL REFERENCES permits (id) ON DELETE CASCADE,
    code        text NOT NULL,
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    device_ids  integer[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (permit_id, code)
);

CREATE TABLE permit_limits (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outlet_id    bigint NOT NULL REFERENCES permit_outlets (id) ON DELETE CASCADE,
    pollutant    text NOT NULL REFERENCES pollutants (code),
    basis        text NOT NULL CHECK (basis IN ('instant', 'hour', 'day')),
    direction    text NOT NULL CHECK (direction IN ('upper', 'lower', 'range')),
    lower_value  double precision CHECK (lower_value IS NULL OR (lower_value <> 'NaN' AND abs(lower_value) < 'Infinity')),
    upper_value  double precision CHECK (upper_value IS NULL OR (upper_value <> 'NaN' AND abs(upper_value) < 'Infinity')),
    decimals     smallint CHECK (decimals BETWEEN 0 AND 6),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (outlet_id, pollutant, basis),
    CHECK ((direction = 'upper' AND upper_value IS NOT NULL)
        OR (direction = 'lower' AND lower_value IS NOT NULL)
        OR (direction = 'range' AND lower_value < upper_value))
);

ALTER TABLE limits ADD COLUMN permit_id bigint REFERENCES permits (id) ON DELETE CASCADE;
CREATE INDEX limits_permit ON limits (permit_id) WHERE permit_id IS NOT NULL;

-- 环评批复 (approval) and 竣工环境保护验收 (acceptance).
CREATE TABLE eia_records (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES sites (id),
    kind        text NOT NULL CHECK (kind IN ('approval', 'acceptance')),
    number      text NOT NULL,
    authority   text,
    decided_on  date NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, kind, number)
);

CREATE TABLE enforcement_records (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites (id),
    decided_on    date NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('inspection', 'warning', 'order_to_correct', 'penalty',
                                                'daily_penalty', 'seizure', 'production_limit', 'referral')),
    case_number   text NOT NULL,
    penalty_yuan  numeric(14, 2) CHECK (penalty_yuan IS NULL OR penalty_yuan >= 0),
    status        text NOT NULL CHECK (status IN ('open', 'rectifying', 'closed', 'appealed')),
    summary       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, case_number)
);
CREATE INDEX enforcement_records_site ON enforcement_records (site_id, decided_on DESC);

-- Uploaded documents (permit scans, EIA approvals, photos). Bytes are kept in the database so a
-- backup holds them with the records that cite them; the size limit keeps rows small.
CREATE TABLE site_documents (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites (id),
    category      text NOT NULL CHECK (category IN ('permit', 'eia', 'acceptance', 'enforcement', 'other')),
    filename      text NOT NULL,
    content_type  text NOT NULL CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size_bytes    integer NOT NULL CHECK (size_bytes > 0 AND size_bytes <= 10485760),
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content       bytea NOT NULL,
    uploaded_by   text NOT NULL,
    uploaded_at   timestamptz NOT NULL,
    UNIQUE (site_id, sha256)
);

CREATE TRIGGER permits_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON permits
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
