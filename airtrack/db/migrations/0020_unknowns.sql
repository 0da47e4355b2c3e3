-- 0020: recurring unknowns. Discovery (the leader's unknown job) groups airings of audio
-- that matched nothing and recurs into unknowns; unknowns.sql holds the functions.
CREATE TABLE unknowns (
    id           bigserial PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    status       text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'dismissed', 'labelled')),
    track_id     bigint REFERENCES tracks (id) ON DELETE SET NULL,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unknowns_created_idx ON unknowns (created_at);

CREATE TABLE unknown_airings (
    id          bigserial PRIMARY KEY,
    unknown_id  bigint NOT NULL REFERENCES unknowns (id) ON DELETE CASCADE,
    stream_id   bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    CHECK (ended_at > started_at)
);
CREATE INDEX unknown_airings_stream_idx ON unknown_airings (stream_id, started_at);
CREATE INDEX unknown_airings_unknown_idx ON unknown_airings (unknown_id);

-- The sampled prints of unmatched audio discovery compares new segments with (one row
-- per archive segment it read), kept for the window; a new leader reloads them.
CREATE TABLE unknown_prints (
    stream_id   bigint NOT NULL,
    started_at  timestamptz NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (stream_id, started_at)
);
CREATE INDEX unknown_prints_started_idx ON unknown_prints (started_at);

-- Where discovery has read the archive up to (segments by arrival).
CREATE TABLE discovery_state (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    received_at   timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    stream_id     bigint NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    key           text NOT NULL DEFAULT ''
);
INSERT INTO discovery_state (id) VALUES (true);

CREATE INDEX fingerprint_archive_received_idx ON fingerprint_archive (received_at);
