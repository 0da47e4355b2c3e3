-- Events for integrations (webhooks, the event stream): written in the same transaction
-- as the change that caused them, delivered later from outbound_events.
--
--   airtrack_emit       the one writer of outbound_events; wakes listeners
--   airtrack_play_json  a play as integrations see it
--   airtrack_rebase_restored_events  after a restore into another cluster: the events'
--                       transaction ids made this cluster's (run by every migrate)
--
-- Event types: play.started (first detection), play.ended (end known or corrected),
-- stream.down, stream.up, alert.raised, alert.resolved, catalog.changed.
--
-- Applied by airtrack.db.migrations like ownership.sql (CREATE OR REPLACE only).

CREATE OR REPLACE FUNCTION airtrack_emit(p_type text, p_stream bigint, p_data jsonb)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO outbound_events (type, stream_id, data) VALUES (p_type, p_stream, p_data)
    RETURNING id INTO v_id;
    PERFORM pg_notify('airtrack_events', v_id::text);
END
$fn$;

-- Play id, station, times (UTC and the station's zone), track fields with ISRC where
-- known, confidence, the worker that heard it, and how it was found ('source':
-- fingerprint, metadata or backfill; 'backfilled': found later in the fingerprint archive).
CREATE OR REPLACE FUNCTION airtrack_play_json(p_play bigint)
RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object(
        'play_id', p.id,
        'stream_id', p.stream_id,
        'station', s.name,
        'timezone', s.timezone,
        'started_at', p.started_at,
        'ended_at', p.ended_at,
        'duration_s', EXTRACT(EPOCH FROM (p.ended_at - p.started_at)),
        'confidence', p.confidence,
        'worker', p.worker_id,
        'source', p.source,
        'backfilled', p.source = 'backfill',
        'track', CASE
            WHEN t.id IS NOT NULL THEN jsonb_build_object(
                'track_id', t.id, 'title', t.title, 'artist', t.artist, 'album', t.album,
                'label', t.label, 'isrc', t.isrc, 'iswc', t.iswc,
                'composers', to_jsonb(t.composers), 'duration_s', t.duration_s)
            -- a removed track: the copy the play kept, and the id it had (0021)
            WHEN p.track_title IS NOT NULL OR p.track_source IS NOT NULL THEN
                jsonb_build_object('track_id', NULL, 'title', p.track_title,
                                   'artist', p.track_artist, 'isrc', p.track_isrc,
                                   'removed_track_id', p.removed_track_id)
        END)
    FROM plays p
    JOIN streams s ON s.id = p.stream_id
    LEFT JOIN tracks t ON t.id = p.track_id
    WHERE p.id = p_play;
$fn$;

-- ---------------------------------------------------------------- alerts
-- Alerts are opened and resolved here so alert.raised / alert.resolved are written in the
-- same transaction as the alert row. Deduplicated while open: the open row for
-- (kind, subject) grows instead; alert.raised is emitted when the alert opens and again
-- when its severity changes (a warning that became critical).
CREATE OR REPLACE FUNCTION airtrack_alert_raise(
    p_severity text, p_kind text, p_subject text, p_message text, p_stream bigint DEFAULT NULL)
RETURNS TABLE (id bigint, severity text, kind text, subject text, message text,
               first_seen timestamptz, last_seen timestamptz, count integer,
               resolved_at timestamptz, created boolean)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_old text;
    r alerts%ROWTYPE;
    v_created boolean;
BEGIN
    SELECT a.severity INTO v_old FROM alerts a
    WHERE a.kind = p_kind AND a.subject = p_subject AND a.resolved_at IS NULL;
    INSERT INTO alerts AS a (severity, kind, subject, message)
    VALUES (p_severity, p_kind, p_subject, p_message)
    ON CONFLICT (kind, subject) WHERE resolved_at IS NULL
    DO UPDATE SET last_seen = now(), count = a.count + 1,
                  message = EXCLUDED.message, severity = EXCLUDED.severity
    RETURNING a.* INTO r;
    v_created := v_old IS NULL;
    IF v_created OR v_old IS DISTINCT FROM p_severity THEN
        PERFORM airtrack_emit('alert.raised', p_stream, airtrack_alert_json(r));
    END IF;
    RETURN QUERY SELECT r.id, r.severity, r.kind, r.subject, r.message, r.first_seen,
                        r.last_seen, r.count, r.resolved_at, v_created;
END
$fn$;

CREATE OR REPLACE FUNCTION airtrack_alert_resolve(
    p_kind text, p_subject text, p_stream bigint DEFAULT NULL)
RETURNS TABLE (id bigint, severity text, kind text, subject text, message text,
               first_seen timestamptz, last_seen timestamptz, count integer,
               resolved_at timestamptz)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    r alerts%ROWTYPE;
BEGIN
    UPDATE alerts a SET resolved_at = now(), last_seen = now()
    WHERE a.kind = p_kind AND a.subject = p_subject AND a.resolved_at IS NULL
    RETURNING a.* INTO r;
    IF FOUND THEN
        PERFORM airtrack_emit('alert.resolved', p_stream, airtrack_alert_json(r));
        RETURN QUERY SELECT r.id, r.severity, r.kind, r.subject, r.message, r.first_seen,
                            r.last_seen, r.count, r.resolved_at;
    END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION airtrack_alert_json(r alerts)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT jsonb_build_object(
        'alert_id', r.id, 'severity', r.severity, 'kind', r.kind, 'subject', r.subject,
        'message', r.message, 'first_seen', r.first_seen, 'last_seen', r.last_seen,
        'count', r.count, 'resolved_at', r.resolved_at);
$fn$;

-- ---------------------------------------------------------------- catalog
-- The one way the catalog revision moves: workers refresh on it, integrations hear it.
CREATE OR REPLACE FUNCTION airtrack_catalog_bump()
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_rev bigint;
BEGIN
    UPDATE catalog_state SET revision = revision + 1, changed_at = now() WHERE id
    RETURNING revision INTO v_rev;
    PERFORM airtrack_emit('catalog.changed', NULL, jsonb_build_object(
        'revision', v_rev, 'tracks', (SELECT count(*) FROM tracks)));
    RETURN v_rev;
END
$fn$;

-- ---------------------------------------------------------------- webhook delivery
-- A delivery of the endpoint's head event failed: back off, or give up on the event once
-- it has failed for p_retry_s and move past it (recorded in webhook_giveups). Fenced by
-- the lease: a replica that lost it changes nothing. Returns 'retry', 'gave_up' or 'lost'.
CREATE OR REPLACE FUNCTION airtrack_webhook_failed(
    p_endpoint bigint, p_by text, p_txid xid8, p_event bigint, p_error text,
    p_delay_s double precision, p_retry_s double precision, p_lease_s double precision)
RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    e webhook_endpoints%ROWTYPE;
BEGIN
    SELECT * INTO e FROM webhook_endpoints
    WHERE id = p_endpoint AND leased_by = p_by AND (cursor_txid, cursor) < (p_txid, p_event)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'lost';
    END IF;
    IF e.failing_since IS NOT NULL
       AND e.failing_since <= now() - make_interval(secs => p_retry_s) THEN
        INSERT INTO webhook_giveups (endpoint_id, event_id, attempts, error)
        VALUES (p_endpoint, p_event, e.attempts + 1, p_error)
        ON CONFLICT DO NOTHING;
        UPDATE webhook_endpoints
        SET cursor_txid = p_txid, cursor = p_event, attempts = 0, failing_since = NULL, next_attempt_at = now(),
            failures = failures + 1, given_up = given_up + 1, last_error = p_error,
            leased_until = now() + make_interval(secs => p_lease_s)
        WHERE id = p_endpoint;
        RETURN 'gave_up';
    END IF;
    UPDATE webhook_endpoints
    SET attempts = attempts + 1, failures = failures + 1,
        failing_since = COALESCE(failing_since, now()), last_error = p_error,
        next_attempt_at = now() + make_interval(secs => p_delay_s),
        leased_until = now() + make_interval(secs => p_lease_s)
    WHERE id = p_endpoint;
    RETURN 'retry';
END
$fn$;

-- The horizon of the readers: they take the events of transactions below it, every one
-- of which has ended in the reader's snapshot. It is the snapshot's xmin (the oldest
-- transaction still open), passing over the transactions open in another database of
-- the server: they cannot write this database's events, and a long one there (a batch
-- job, a session left in a transaction) held every webhook and event stream here for
-- as long. A transaction is placed by the backend that holds its id's lock (pg_locks:
-- pid) and that backend's database (pg_stat_activity, by the same pid), or by
-- pg_prepared_xacts; one that cannot be placed so (ended since the snapshot, or not
-- shown to this role) holds the horizon, as any open one here does. (The activity's
-- own backend_xid is read apart from its database: a slot freed by a backend of another
-- database and taken by one of this database could pass this one's id over.) Ids at or
-- past the snapshot's xmax are not listed, and need not be: xmax bounds them. On a
-- standby the snapshot lists no running ids: the plain xmin there. Call it as a scalar
-- subquery, so that it runs once per statement.
CREATE OR REPLACE FUNCTION airtrack_events_horizon() RETURNS xid8
LANGUAGE sql STABLE AS $fn$
    WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
    elsewhere AS MATERIALIZED (  -- read once, and only when some id is open
        SELECT l.transactionid AS xid
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'transactionid' AND l.granted AND l.mode = 'ExclusiveLock'
          AND a.datid <> (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
          -- not a backend that took the pid after this snapshot (the id's own ended)
          AND a.backend_start < statement_timestamp()
        UNION ALL
        SELECT p.transaction FROM pg_prepared_xacts p WHERE p.database <> current_database()
    )
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_snapshot_xmin(snap.s) ELSE coalesce(
        (SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
         WHERE x::xid NOT IN (SELECT e.xid FROM elsewhere e)),
        pg_snapshot_xmax(snap.s)) END
    FROM snap
$fn$;

-- Readers order events by (txid, id) and take those below the snapshot's xmin.  A dump
-- restored into another cluster (new hardware, a managed server, a major upgrade by dump
-- and reload) brings the old cluster's transaction ids, which may lie at or past this
-- cluster's counter: every new event would then sort before them, behind the webhook
-- cursors and the event stream's start, and never be delivered.  When any event or
-- cursor is from past this cluster's counter, every event is given txid 0 (finished, in
-- id order), and each cursor moves to just before the first event it had not delivered
-- in the old order: at least once, as delivery promises (some may come again, none is
-- skipped).  The number of events rebased; 0 when nothing was from elsewhere.
CREATE OR REPLACE FUNCTION airtrack_rebase_restored_events() RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_horizon xid8 := pg_snapshot_xmax(pg_current_snapshot());
    v_n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM outbound_events WHERE txid >= v_horizon)
       AND NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE cursor_txid >= v_horizon) THEN
        RETURN 0;
    END IF;
    LOCK TABLE outbound_events IN SHARE ROW EXCLUSIVE MODE;  -- no event written meanwhile
    UPDATE webhook_endpoints w
    SET cursor_txid = '0',
        cursor = coalesce(
            (SELECT min(o.id) - 1 FROM outbound_events o
             WHERE (o.txid, o.id) > (w.cursor_txid, w.cursor)),
            (SELECT coalesce(max(o.id), 0) FROM outbound_events o))
    WHERE w.cursor_txid <> '0' OR w.cursor <> 0;
    UPDATE outbound_events SET txid = '0' WHERE txid <> '0';
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$fn$;
