-- 0019: proof clips (short audio of a play's start, or of a requested stretch) and
-- clip requests. clips.sql holds the functions (the fenced write, retention).

-- Clip requests: a stretch of a stream wanted as audio that is not a play (an airing of a
-- recurring unknown). Handed to the stream's owner in heartbeat replies; 'done' once a
-- clip answers it, 'expired' once the workers' buffers no longer hold it (clips.sql).
CREATE TABLE clip_requests (
    id            bigserial PRIMARY KEY,
    stream_id     bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    start_at      timestamptz NOT NULL,
    end_at        timestamptz NOT NULL,
    -- the recurring unknown the clip is proof of (no foreign key: kept by discovery)
    unknown_id    bigint,
    state         text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'done', 'expired')),
    requested_at  timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz,
    CHECK (end_at > start_at),
    UNIQUE (stream_id, start_at, end_at)
);
CREATE INDEX clip_requests_pending_idx ON clip_requests (end_at) WHERE state = 'pending';

-- Proof clips: short encoded audio a worker cut from what it heard, fenced like plays.
-- A play's clip is found by its idempotency key (plays.idempotency_key or play_keys):
-- the worker does not know the play's id, and the clip may arrive before the play.
CREATE TABLE clips (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    stream_id        bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    epoch            bigint NOT NULL,
    worker_id        text,
    play_key         text,
    request_id       bigint REFERENCES clip_requests (id) ON DELETE SET NULL,
    unknown_id       bigint,
    started_at       timestamptz NOT NULL,
    duration_s       real NOT NULL CHECK (duration_s > 0),
    media_type       text NOT NULL CHECK (media_type IN ('audio/ogg', 'audio/mpeg')),
    data             bytea NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clips_play_key_idx ON clips (play_key) WHERE play_key IS NOT NULL;
CREATE INDEX clips_unknown_idx ON clips (unknown_id, started_at DESC)
    WHERE unknown_id IS NOT NULL;
CREATE INDEX clips_stream_received_idx ON clips (stream_id, received_at);
CREATE INDEX clips_started_idx ON clips (started_at);
