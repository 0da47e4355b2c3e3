-- airtrack schema: the current shape of the store of record's tables.
-- migrations/ must produce exactly this plus the repeatable scripts (events.sql,
-- ownership.sql, play_log.sql, stream_state.sql, archive.sql: the functions)
-- (tests/integration/test_migrations.py).

CREATE TABLE schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- The text of each repeatable script (ownership.sql) last applied.
CREATE TABLE schema_scripts (
    name        text PRIMARY KEY,
    sha256      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workers (
    id              text PRIMARY KEY,
    host            text,
    version         text,
    capacity        integer NOT NULL CHECK (capacity >= 0),
    state           text NOT NULL DEFAULT 'active'
                    CHECK (state IN ('active', 'suspect', 'inactive', 'draining')),
    registered_at   timestamptz NOT NULL DEFAULT now(),
    last_heartbeat  timestamptz,
    incarnation     bigint NOT NULL DEFAULT 1,
    meta            jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE streams (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    url         text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    capture_status text,
    last_error  text,
    error_since timestamptz,
    meta        jsonb NOT NULL DEFAULT '{}'::jsonb,
    backup_urls text[] NOT NULL DEFAULT '{}',
    timezone    text NOT NULL DEFAULT 'UTC',
    country     text,
    region      text,
    city        text,
    genre       text,
    extra       jsonb NOT NULL DEFAULT '{}'::jsonb,
    health      text NOT NULL DEFAULT 'unmonitored'
                CHECK (health IN ('up', 'down', 'unmonitored')),
    health_since timestamptz NOT NULL DEFAULT now(),
    health_cause text,
    -- the server's listener statistics endpoint (0016; credentials masked when shown)
    stats_url   text
);

-- One row per stream: two owners cannot exist in the store (R3.3).
-- A move is revoke-then-assign: state 'revoking' keeps the old owner (and its
-- epoch) until it confirms the drop or its lease expires; then next_worker_id
-- receives the stream with epoch + 1.
CREATE TABLE assignments (
    stream_id       bigint PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
    worker_id       text REFERENCES workers (id) ON DELETE SET NULL,
    next_worker_id  text REFERENCES workers (id) ON DELETE SET NULL,
    epoch           bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    state           text NOT NULL DEFAULT 'unassigned'
                    CHECK (state IN ('unassigned', 'assigned', 'revoking')),
    assigned_at     timestamptz,
    confirmed_at    timestamptz,
    CHECK ((state = 'unassigned') = (worker_id IS NULL))
);
CREATE INDEX assignments_worker_idx ON assignments (worker_id);

CREATE TABLE tracks (
    id              bigserial PRIMARY KEY,
    title           text,
    artist          text,
    source          text NOT NULL,
    duration_s      double precision NOT NULL CHECK (duration_s >= 0),
    content_sha256  text NOT NULL UNIQUE,
    added_at        timestamptz NOT NULL DEFAULT now(),
    album           text,
    label           text,
    isrc            text CHECK (isrc ~ '^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$'),
    iswc            text CHECK (iswc ~ '^T-[0-9]{9}-[0-9]$'),
    composers       text[] NOT NULL DEFAULT '{}',
    release_year    integer CHECK (release_year BETWEEN 1000 AND 9999),
    extra           jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- when its past airings were last looked for in the fingerprint archive (back-fill);
    -- NULL: a new track, its back-fill is due (0017)
    archive_searched_at timestamptz
);
CREATE UNIQUE INDEX tracks_isrc_uniq ON tracks (isrc) WHERE isrc IS NOT NULL;
CREATE INDEX tracks_archive_due_idx ON tracks (added_at) WHERE archive_searched_at IS NULL;

CREATE TABLE track_prints (
    track_id    bigint PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    engine      text NOT NULL,
    prints      bytea NOT NULL
);

-- Each track's spectral peaks: prints are re-derived from them after an engine change
-- (`airtrack catalog reindex`, 0012).
CREATE TABLE track_peaks (
    track_id    bigint PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    peaks       bytea NOT NULL
);

-- Prints of the next engine, staged by a reindex and swapped into track_prints in one
-- transaction once every track has them: the old index keeps serving until then.
CREATE TABLE track_prints_next (
    track_id    bigint PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    engine      text NOT NULL,
    prints      bytea NOT NULL
);

-- A removed track, as it was (0021): a play of it that started before the removal and is
-- reported after it (held in a worker's outbox) is logged with this copy
-- (airtrack_track_removed in play_log.sql).
CREATE TABLE removed_tracks (
    id          bigint PRIMARY KEY,
    title       text,
    artist      text,
    source      text NOT NULL,
    isrc        text,
    duration_s  double precision NOT NULL,
    removed_at  timestamptz NOT NULL DEFAULT now()
);

-- Bumped whenever the catalog changes; the snapshot version derives from it.
CREATE TABLE catalog_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    revision    bigint NOT NULL DEFAULT 0,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO catalog_state (id) VALUES (true);

-- The catalog as segments (0013, docs/scaling.md): the plan every replica serves, so all of
-- them name the same segments. revision/changed_at: the catalog state it was diffed at.
CREATE TABLE catalog_manifest (
    engine      text PRIMARY KEY,
    revision    bigint NOT NULL,
    changed_at  timestamptz NOT NULL,
    plan        jsonb NOT NULL
);

CREATE TABLE plays (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    stream_id        bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    track_id         bigint REFERENCES tracks (id) ON DELETE SET NULL,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    confidence       double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    worker_id        text,
    epoch            bigint NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    -- The track as it was when the play was stored (trigger plays_track_snapshot in
    -- ownership.sql): a removed track leaves its plays readable.
    track_title      text,
    track_artist     text,
    track_source     text,
    track_isrc       text,
    -- where the song's beginning falls on the stream's clock (one per airing: 0010)
    song_origin      timestamptz,
    -- 'fingerprint': heard; 'metadata': only named by the station's title (0011);
    -- 'backfill': found later in the fingerprint archive (0017)
    source           text NOT NULL DEFAULT 'fingerprint'
        CHECK (source IN ('fingerprint', 'metadata', 'backfill')),
    -- the track a play aired once that track's removal has set track_id NULL (0021): later
    -- reports of the same airing merge into it (no foreign key: the track is gone)
    removed_track_id bigint,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX plays_stream_started_idx ON plays (stream_id, started_at DESC);
CREATE INDEX plays_started_idx ON plays (started_at DESC);
-- Plays of one track newest first (GET /plays?track_id=, ?isrc=; migration 0007).
CREATE INDEX plays_track_started_idx ON plays (track_id, started_at DESC);
-- A removed track's airings newest first (0021: the merge in airtrack_log_play).
CREATE INDEX plays_removed_track_idx ON plays (removed_track_id, started_at DESC)
    WHERE removed_track_id IS NOT NULL;

-- Further idempotency keys that were merged into an existing play (handoff extension).
CREATE TABLE play_keys (
    idempotency_key  text PRIMARY KEY,
    play_id          bigint NOT NULL REFERENCES plays (id) ON DELETE CASCADE
);

-- The internal audit log: ownership changes, fencing, operations (airtrack_audit in
-- ownership.sql). Integrations read outbound_events, not this.
CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    kind     text NOT NULL,
    subject  text,
    detail   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);

CREATE TABLE alerts (
    id           bigserial PRIMARY KEY,
    severity     text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    kind         text NOT NULL,
    subject      text NOT NULL DEFAULT '',
    message      text NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    count        integer NOT NULL DEFAULT 1,
    resolved_at  timestamptz
);
CREATE UNIQUE INDEX alerts_open_uniq ON alerts (kind, subject) WHERE resolved_at IS NULL;

CREATE TABLE error_patterns (
    signature   text PRIMARY KEY,
    source      text NOT NULL DEFAULT '',
    count       bigint NOT NULL DEFAULT 1,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    sample      text NOT NULL
);

-- Small key/value state of the control plane (leader, recovery mode).
CREATE TABLE control_state (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The owner of every epoch of every stream (migration 0003); plays are fenced against it.
CREATE TABLE assignment_epochs (
    stream_id  bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    epoch      bigint NOT NULL,
    worker_id  text,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, epoch)
);
CREATE INDEX assignment_epochs_stream_at_idx ON assignment_epochs (stream_id, at);

-- Each change of a stream's status as its owner reported it (airtrack_heartbeat); with
-- assignment_epochs (who owned it when) this is the stream's monitoring history.
CREATE TABLE stream_status_log (
    id          bigserial PRIMARY KEY,
    stream_id   bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    status      text,
    error       text,
    worker_id   text
);
CREATE INDEX stream_status_log_stream_at_idx ON stream_status_log (stream_id, at);

-- The outbox of events for integrations (webhooks, the event stream), written in the
-- same transaction as the change that caused each (events.sql, ownership.sql).
CREATE TABLE outbound_events (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE
                DEFAULT ('evt_' || replace(gen_random_uuid()::text, '-', '')),
    type        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    stream_id   bigint,  -- no foreign key: an event outlives its stream
    data        jsonb NOT NULL,
    -- the writing transaction: readers deliver in (txid, id) order, finished ones only
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX outbound_events_at_idx ON outbound_events (at);

-- The SHA-256 of each worker's credential (migration 0008, docs/security.md): heartbeat,
-- deregister and plays of an id that holds one need it, and so does registering that id
-- again while it is not inactive.
CREATE TABLE worker_credentials (
    worker_id  text PRIMARY KEY,
    sha256     text NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX outbound_events_txid_idx ON outbound_events (txid, id);

-- Each change of a stream's state (up / down / unmonitored) and its cause (stream_state.sql).
CREATE TABLE stream_state_log (
    id          bigserial PRIMARY KEY,
    stream_id   bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    state       text NOT NULL,
    cause       text
);
CREATE INDEX stream_state_log_stream_at_idx ON stream_state_log (stream_id, at);

-- Webhook receivers: filters, a cursor over outbound_events (delivered in order, at least
-- once), the head event's retry state, and a lease so one replica delivers at a time.
CREATE TABLE webhook_endpoints (
    id               bigserial PRIMARY KEY,
    url              text NOT NULL,
    secret           text NOT NULL,
    event_types      text[] NOT NULL DEFAULT '{}',
    stream_ids       bigint[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    cursor_txid      xid8 NOT NULL DEFAULT '0',
    cursor           bigint NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    failing_since    timestamptz,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_success_at  timestamptz,
    last_error       text,
    delivered        bigint NOT NULL DEFAULT 0,
    failures         bigint NOT NULL DEFAULT 0,
    given_up         bigint NOT NULL DEFAULT 0,
    leased_by        text,
    leased_until     timestamptz
);

CREATE TABLE webhook_giveups (
    endpoint_id  bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id     bigint NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL,
    error        text,
    PRIMARY KEY (endpoint_id, event_id)
);

-- In-band stream titles (ICY StreamTitle), change points fenced by epoch (0011).
CREATE TABLE stream_titles (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    stream_id        bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    at               timestamptz NOT NULL,
    title            text,
    url              text,
    encoding         text NOT NULL DEFAULT 'utf-8',
    worker_id        text,
    epoch            bigint NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stream_titles_stream_at_idx ON stream_titles (stream_id, at);

-- A play or stream title the fence refused, as its worker sent it, until an operator
-- accepts it (it is logged then) or discards it (airtrack plays refused ...).
CREATE TABLE refused_plays (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('play', 'title')),
    idempotency_key  text NOT NULL,
    -- no foreign key: an item about a stream that does not exist is kept too
    stream_id        bigint NOT NULL,
    epoch            bigint NOT NULL,
    worker_id        text,
    -- unknown_stream, epoch_ahead, epoch_superseded, other_writer (airtrack_fence)
    reason           text NOT NULL,
    item             jsonb NOT NULL,
    refused_at       timestamptz NOT NULL DEFAULT now(),
    times            integer NOT NULL DEFAULT 1,
    UNIQUE (kind, idempotency_key)
);
CREATE INDEX refused_plays_stream_idx ON refused_plays (stream_id, refused_at);

-- Listener counts the leader polled from each stream's stats_url (0016, listeners.sql).
CREATE TABLE listener_samples (
    stream_id  bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    listeners  integer NOT NULL CHECK (listeners >= 0),
    PRIMARY KEY (stream_id, at)
);

-- The fingerprint archive: the query prints workers heard (matched or not), in segments
-- (airtrack/fingerprint/archive.py), no audio. One partition per UTC day, made and
-- dropped by airtrack_archive_maintain (archive.sql); back-fill and discovery read it.
CREATE TABLE fingerprint_archive (
    stream_id        bigint NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_s       real NOT NULL CHECK (duration_s > 0),
    idempotency_key  text NOT NULL,
    epoch            bigint NOT NULL,
    worker_id        text,
    pairs            integer NOT NULL CHECK (pairs >= 0),
    data             bytea NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, started_at, idempotency_key)
) PARTITION BY RANGE (started_at);

-- Proof clips and clip requests (0019; functions in clips.sql).
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
-- discovery reads segments by arrival (0020)
CREATE INDEX fingerprint_archive_received_idx ON fingerprint_archive (received_at);

-- Recurring unknowns (0020): audio that matched nothing and airs again, grouped by the
-- leader's discovery job (airtrack/orchestrator/discovery.py); functions in unknowns.sql.
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

