-- The plant's answer to an exceedance (超标说明, issue 19 part 2). When a pollution exceedance opens,
-- the plant's registered contact is asked, by SMS with a signed link, for the cause, the measures
-- taken and the expected recovery time, by a deadline; reminders follow, and past the deadline the
-- request escalates to the inspector. Each round (the first request, each "ask again") is a row;
-- every step also goes into alert_events, the alert's timeline.

CREATE TABLE answer_requests (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id       bigint NOT NULL REFERENCES alerts (id),
    round          smallint NOT NULL CHECK (round >= 1),
    contact_name   text NOT NULL,
    phone          text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    requested_at   timestamptz NOT NULL,
    deadline_at    timestamptz NOT NULL,
    reminders      smallint NOT NULL DEFAULT 0,
    last_reminded_at timestamptz,
    escalated_at   timestamptz,
    state          text NOT NULL DEFAULT 'waiting'
                   CHECK (state IN ('waiting', 'answered', 'accepted', 'asked_again')),
    inspector_note text,
    decided_by     text,
    decided_at     timestamptz,
    UNIQUE (alert_id, round),
    CHECK (deadline_at > requested_at)
);
-- At most one round of an alert is open (waiting or answered) at a time.
CREATE UNIQUE INDEX answer_requests_one_open ON answer_requests (alert_id) WHERE state IN ('waiting', 'answered');

CREATE TABLE plant_answers (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id            bigint NOT NULL UNIQUE REFERENCES answer_requests (id),
    cause                 text NOT NULL CHECK (length(cause) BETWEEN 1 AND 2000),
    measures              text NOT NULL CHECK (length(measures) BETWEEN 1 AND 2000),
    expected_recovery_at  timestamptz NOT NULL,
    submitted_at          timestamptz NOT NULL,
    submitted_from        text
);

CREATE TABLE answer_attachments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    answer_id     bigint NOT NULL REFERENCES plant_answers (id),
    filename      text NOT NULL,
    content_type  text NOT NULL CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size_bytes    integer NOT NULL CHECK (size_bytes > 0 AND size_bytes <= 10485760),
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content       bytea NOT NULL,
    UNIQUE (answer_id, sha256)
);
