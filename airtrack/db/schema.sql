-- airtrack schema: the current shape of the store of record.
-- migrations/ must produce exactly this (tests/integration/test_migrations.py).

CREATE TABLE schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
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
    status      text,
    last_error  text,
    error_since timestamptz,
    meta        jsonb NOT NULL DEFAULT '{}'::jsonb
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
    added_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE track_prints (
    track_id    bigint PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    engine      text NOT NULL,
    prints      bytea NOT NULL
);

-- Bumped whenever the catalog changes; the snapshot version derives from it.
CREATE TABLE catalog_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    revision    bigint NOT NULL DEFAULT 0,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO catalog_state (id) VALUES (true);

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
    -- The track as it was when the play was stored (see plays_track_snapshot below).
    track_title      text,
    track_artist     text,
    track_source     text,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX plays_stream_started_idx ON plays (stream_id, started_at DESC);
CREATE INDEX plays_started_idx ON plays (started_at DESC);
CREATE INDEX plays_track_idx ON plays (track_id);

-- Further idempotency keys that were merged into an existing play (handoff extension).
CREATE TABLE play_keys (
    idempotency_key  text PRIMARY KEY,
    play_id          bigint NOT NULL REFERENCES plays (id) ON DELETE CASCADE
);

CREATE TABLE events (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    kind     text NOT NULL,
    subject  text,
    detail   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_at_idx ON events (at DESC);

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

-- The heartbeat as one server-side function (migration 0002).
CREATE FUNCTION airtrack_heartbeat(
    p_worker text,
    p_sids bigint[],
    p_epochs bigint[],
    p_statuses text[],
    p_errors text[],
    p_meta jsonb
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_cap integer;
    v_load integer;
    v_handed bigint[];
    v_adopted bigint[] := '{}';
    v_refused bigint[] := '{}';
    r record;
BEGIN
    -- Liveness data: losing the last instant of heartbeats in a server crash is harmless
    -- (the worker reports again), so this transaction does not wait for its WAL flush.
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE workers
    SET last_heartbeat = now(),
        state = CASE WHEN state = 'suspect' THEN 'active' ELSE state END,
        meta = p_meta
    WHERE id = p_worker AND state IN ('active', 'suspect')
    RETURNING capacity INTO v_cap;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF cardinality(p_sids) > 0 THEN
        UPDATE assignments a SET confirmed_at = now()
        FROM (SELECT x.stream_id FROM assignments x
              JOIN unnest(p_sids, p_epochs) AS u(sid, ep)
                ON u.sid = x.stream_id AND u.ep = x.epoch
              WHERE x.worker_id = p_worker AND x.state = 'assigned' AND x.confirmed_at IS NULL
              ORDER BY x.stream_id FOR UPDATE OF x) c
        WHERE a.stream_id = c.stream_id;
    END IF;

    -- Revoke, then assign: streams this worker no longer reports go to their next owner.
    WITH done AS (
        UPDATE assignments a
        SET worker_id = x.next_worker_id,
            next_worker_id = NULL,
            epoch = a.epoch + 1,
            state = CASE WHEN x.next_worker_id IS NULL THEN 'unassigned' ELSE 'assigned' END,
            assigned_at = now(),
            confirmed_at = NULL
        FROM (SELECT stream_id, next_worker_id FROM assignments
              WHERE worker_id = p_worker AND state = 'revoking'
                AND NOT (stream_id = ANY(p_sids))
              ORDER BY stream_id FOR UPDATE) x
        WHERE a.stream_id = x.stream_id
        RETURNING a.stream_id
    )
    SELECT coalesce(array_agg(stream_id), '{}') INTO v_handed FROM done;

    -- Streams reported but not held by this worker with that epoch (R3.4).
    IF cardinality(p_sids) > 0 THEN
        v_load := NULL;
        FOR r IN
            SELECT u.sid, u.ep, a.worker_id, a.epoch, a.state, s.enabled, s.id IS NOT NULL AS ok
            FROM unnest(p_sids, p_epochs) AS u(sid, ep)
            LEFT JOIN assignments a ON a.stream_id = u.sid
            LEFT JOIN streams s ON s.id = u.sid
            WHERE NOT (a.worker_id IS NOT DISTINCT FROM p_worker AND a.epoch = u.ep
                       AND a.state IN ('assigned', 'revoking'))
            ORDER BY u.sid
        LOOP
            IF v_load IS NULL THEN
                SELECT count(*) INTO v_load FROM assignments
                WHERE (worker_id = p_worker AND state IN ('assigned', 'revoking'))
                   OR (next_worker_id = p_worker AND state = 'revoking');
            END IF;
            IF r.ok AND r.enabled AND r.state = 'unassigned' AND v_load < v_cap THEN
                UPDATE assignments
                SET worker_id = p_worker, epoch = epoch + 1, state = 'assigned',
                    assigned_at = now(), confirmed_at = NULL, next_worker_id = NULL
                WHERE stream_id = r.sid AND state = 'unassigned';
                IF FOUND THEN
                    v_load := v_load + 1;
                    v_adopted := v_adopted || r.sid;
                    INSERT INTO events (kind, subject, detail)
                    VALUES ('assignment.adopted', r.sid::text, jsonb_build_object('worker', p_worker));
                    CONTINUE;
                END IF;
            END IF;
            v_refused := v_refused || r.sid;
            INSERT INTO events (kind, subject, detail)
            VALUES ('assignment.refused_report', r.sid::text,
                    jsonb_build_object('worker', p_worker, 'reported_epoch', r.ep,
                                       'owner', r.worker_id, 'epoch', r.epoch));
        END LOOP;

        -- Per-stream status from the owner; written only when it changed.
        UPDATE streams s
        SET status = u.st,
            last_error = u.err,
            error_since = CASE WHEN u.err IS NULL THEN NULL
                               WHEN s.last_error IS NULL THEN now() ELSE s.error_since END
        FROM (SELECT * FROM unnest(p_sids, p_statuses, p_errors) AS z(sid, st, err)
              WHERE NOT (z.sid = ANY(v_refused)) ORDER BY z.sid) u
        WHERE s.id = u.sid
          AND (s.status IS DISTINCT FROM u.st OR s.last_error IS DISTINCT FROM u.err);
    END IF;

    RETURN jsonb_build_object(
        'assignments', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'stream_id', a.stream_id, 'name', s.name, 'url', s.url, 'epoch', a.epoch)
                       ORDER BY a.stream_id), '[]'::jsonb)
            FROM assignments a JOIN streams s ON s.id = a.stream_id
            WHERE a.worker_id = p_worker AND a.state = 'assigned' AND s.enabled),
        'handed_off', to_jsonb(v_handed),
        'adopted', to_jsonb(v_adopted),
        'refused', to_jsonb(v_refused));
END
$fn$;

-- The owner of every epoch of every stream (migration 0003); plays are fenced against it.
CREATE TABLE assignment_epochs (
    stream_id  bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    epoch      bigint NOT NULL,
    worker_id  text,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, epoch)
);

CREATE FUNCTION airtrack_record_epoch() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.epoch <> OLD.epoch THEN
        INSERT INTO assignment_epochs (stream_id, epoch, worker_id)
        VALUES (NEW.stream_id, NEW.epoch, NEW.worker_id)
        ON CONFLICT (stream_id, epoch) DO UPDATE SET worker_id = EXCLUDED.worker_id;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER assignments_record_epoch
AFTER INSERT OR UPDATE OF epoch ON assignments
FOR EACH ROW EXECUTE FUNCTION airtrack_record_epoch();

-- A play keeps the song it aired (migration play_track_snapshot): a copy of the track's
-- title, artist and source taken when it is stored, by whoever stores it; removing the
-- track later sets track_id to NULL and leaves the copy.
CREATE FUNCTION airtrack_play_track_snapshot() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- A NULL track_id (unknown id, or the track's removal setting it NULL) keeps the
    -- copy taken when the play was stored.
    IF NEW.track_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.track_id IS DISTINCT FROM OLD.track_id) THEN
        SELECT t.title, t.artist, t.source
        INTO NEW.track_title, NEW.track_artist, NEW.track_source
        FROM tracks t WHERE t.id = NEW.track_id;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER plays_track_snapshot
BEFORE INSERT OR UPDATE OF track_id ON plays
FOR EACH ROW EXECUTE FUNCTION airtrack_play_track_snapshot();
