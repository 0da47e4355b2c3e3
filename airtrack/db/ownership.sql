-- Ownership of streams: every state transition of an assignment, in one file.
--
-- Who owns a stream, and when does that change? Everything is here:
--
--   airtrack_register        a worker joins (again): release after a leave, reclaim after
--                            an outage
--   airtrack_heartbeat       the worker's credential, liveness, confirm, complete handoffs
--                            the worker let go of, adopt or refuse streams it reports
--                            without owning them, re-fence a stream it owns under an
--                            epoch newer than the database knows (a restored database)
--   airtrack_deregister      graceful leave: the worker's streams are free at once
--   airtrack_expire_workers  lease expiry (suspect) and inactivity (inactive)
--   airtrack_finish_handoffs revokes whose old owner is gone or overdue are completed
--   airtrack_move            the leader's compare-and-set of one planned move
--   airtrack_record_epoch    trigger: the owner of every epoch (the fencing history)
--   airtrack_fenced_writer   who may write about a stream with an epoch
--   airtrack_fence           the one fencing step of a batch of plays or titles: who may
--                            write each item, and why not (play_log.sql writes them)
--   airtrack_fence_batch     the same answer as arrays, as every batch recorder uses it
--   airtrack_audit           the one writer of the audit log (ownership and fencing)
--
-- The states of an assignment row (one per stream):
--   unassigned --assign--> assigned --revoke--> revoking --handoff--> assigned (next owner)
--                                                         \-------> unassigned (none)
--   assigned/revoking --release (leave, lease expiry)--> unassigned
--   assigned --refence (its owner runs it under a newer epoch: a restored database)-->
--            assigned, same owner, the owner's epoch
-- Every change of owner bumps the epoch; a worker writes only with the epoch it holds.
--
-- Lock order everywhere: workers (the one row) -> assignments (by stream_id) -> plays.
-- (A batch of plays or titles: airtrack_fence shares the assignments of its streams, in
-- stream order, before play_log.sql writes plays.)
--
-- This file is applied by airtrack.db.migrations after the numbered migrations, again
-- whenever its text changes (CREATE OR REPLACE only: a change of signature needs a
-- numbered migration that drops the old function first).

-- ------------------------------------------------------------------ audit log
-- The internal record of what happened and why (not the integrations' outbound_events).
-- Kinds written here: worker.registered, worker.deregistered, worker.suspect,
-- worker.inactive, assignment.adopted, assignment.refused, assignment.reclaimed,
-- assignment.released, assignment.handed_off, assignment.handoff_forced,
-- assignment.rebalanced, assignment.refenced, play.stale, title.stale (and, from
-- play_log.sql, play.accepted, title.accepted, play.discarded, title.discarded).
CREATE OR REPLACE FUNCTION airtrack_audit(p_kind text, p_subject text, p_detail jsonb)
RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO audit_log (kind, subject, detail) VALUES (p_kind, p_subject, p_detail);
$fn$;

-- ------------------------------------------------------------------ epoch history
CREATE OR REPLACE FUNCTION airtrack_record_epoch() RETURNS trigger
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

CREATE OR REPLACE TRIGGER assignments_record_epoch
AFTER INSERT OR UPDATE OF epoch ON assignments
FOR EACH ROW EXECUTE FUNCTION airtrack_record_epoch();

-- The worker that may still write with an old epoch: its owner, if no other worker
-- has owned the stream since (a worker that kept its stream through an orchestrator
-- outage still delivers what it queued meanwhile). NULL: the epoch is stale.
CREATE OR REPLACE FUNCTION airtrack_epoch_writer(p_sid bigint, p_epoch bigint)
RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT e.worker_id
    FROM assignment_epochs e
    WHERE e.stream_id = p_sid AND e.epoch = p_epoch AND e.worker_id IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM assignment_epochs later
          WHERE later.stream_id = e.stream_id AND later.epoch > e.epoch
            AND later.worker_id IS NOT NULL AND later.worker_id <> e.worker_id);
$fn$;

-- Who may write about a stream with this epoch: its owner while the epoch is current
-- (assigned or revoking), else the epoch's owner if nobody else owned the stream since.
-- NULL: the write is stale. Plays and stream titles are fenced by this one rule
-- (airtrack_fence).
CREATE OR REPLACE FUNCTION airtrack_fenced_writer(p_sid bigint, p_epoch bigint)
RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_owner record;
BEGIN
    SELECT epoch, worker_id, state INTO v_owner FROM assignments WHERE stream_id = p_sid;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF v_owner.epoch = p_epoch AND v_owner.state IN ('assigned', 'revoking') THEN
        RETURN v_owner.worker_id;
    END IF;
    RETURN airtrack_epoch_writer(p_sid, p_epoch);
END
$fn$;

-- ------------------------------------------------------------------ helpers
-- A worker's current assignments, as sent to it.
CREATE OR REPLACE FUNCTION airtrack_assignments_of(p_worker text)
RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'stream_id', a.stream_id, 'name', s.name, 'url', s.url, 'epoch', a.epoch,
               'backup_urls', to_jsonb(s.backup_urls))
               ORDER BY a.stream_id), '[]'::jsonb)
    FROM assignments a JOIN streams s ON s.id = a.stream_id
    WHERE a.worker_id = p_worker AND a.state = 'assigned' AND s.enabled;
$fn$;

-- Every stream a worker holds (or is revoking) becomes unassigned; streams in flight
-- towards it lose that destination. Returns the released stream ids.
CREATE OR REPLACE FUNCTION airtrack_release_worker(p_worker text)
RETURNS bigint[]
LANGUAGE plpgsql AS $fn$
DECLARE
    v_released bigint[];
BEGIN
    WITH done AS (
        UPDATE assignments a
        SET worker_id = NULL, next_worker_id = NULL, epoch = a.epoch + 1,
            state = 'unassigned', assigned_at = NULL, confirmed_at = NULL
        FROM (SELECT stream_id FROM assignments
              WHERE worker_id = p_worker AND state IN ('assigned', 'revoking')
              ORDER BY stream_id FOR UPDATE) x
        WHERE a.stream_id = x.stream_id
        RETURNING a.stream_id
    )
    SELECT coalesce(array_agg(stream_id ORDER BY stream_id), '{}') INTO v_released FROM done;
    PERFORM airtrack_clear_next(ARRAY[p_worker]);
    RETURN v_released;
END
$fn$;

-- A draining or dead worker cannot receive streams in flight towards it.
CREATE OR REPLACE FUNCTION airtrack_clear_next(p_workers text[])
RETURNS void
LANGUAGE sql AS $fn$
    UPDATE assignments a SET next_worker_id = NULL
    FROM (SELECT stream_id FROM assignments
          WHERE next_worker_id = ANY(p_workers) ORDER BY stream_id FOR UPDATE) x
    WHERE a.stream_id = x.stream_id;
$fn$;

-- ------------------------------------------------------------------ register
-- Idempotent (static membership): the same id keeps its row and, while still active,
-- its streams. After a graceful leave (draining) or inactivity it owns nothing; after
-- a lease expiry (suspect/inactive) it takes back the streams nobody took since (it
-- may never have stopped running them: an orchestrator outage).
CREATE OR REPLACE FUNCTION airtrack_register(
    p_worker text, p_host text, p_version text, p_capacity integer
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_before text;
    v_incarnation bigint;
    v_released bigint[] := '{}';
    v_reclaimed bigint[] := '{}';
    v_held integer;
BEGIN
    SELECT state INTO v_before FROM workers WHERE id = p_worker FOR UPDATE;
    INSERT INTO workers (id, host, version, capacity, state, registered_at, last_heartbeat)
    VALUES (p_worker, p_host, p_version, p_capacity, 'active', now(), now())
    ON CONFLICT (id) DO UPDATE
    SET host = EXCLUDED.host,
        version = EXCLUDED.version,
        capacity = EXCLUDED.capacity,
        state = 'active',
        last_heartbeat = now(),
        incarnation = workers.incarnation + 1,
        registered_at = CASE WHEN workers.state = 'active' THEN workers.registered_at
                             ELSE now() END
    RETURNING incarnation INTO v_incarnation;

    IF v_before IN ('draining', 'inactive') THEN
        v_released := airtrack_release_worker(p_worker);
        IF cardinality(v_released) > 0 THEN
            PERFORM airtrack_audit('assignment.released', p_worker,
                                   jsonb_build_object('streams', to_jsonb(v_released),
                                                      'why', 'rejoin'));
        END IF;
    END IF;
    IF v_before IN ('suspect', 'inactive') THEN
        SELECT count(*) INTO v_held FROM assignments
        WHERE worker_id = p_worker AND state = 'assigned';
        WITH done AS (
            UPDATE assignments a
            SET worker_id = p_worker, next_worker_id = NULL, epoch = a.epoch + 1,
                state = 'assigned', assigned_at = now(), confirmed_at = NULL
            FROM (SELECT x.stream_id FROM assignments x
                  JOIN streams s ON s.id = x.stream_id AND s.enabled
                  JOIN assignment_epochs e ON e.stream_id = x.stream_id
                                          AND e.epoch = x.epoch - 1
                  WHERE x.state = 'unassigned' AND e.worker_id = p_worker
                  ORDER BY x.stream_id
                  LIMIT GREATEST(p_capacity - v_held, 0)
                  FOR UPDATE OF x) r
            WHERE a.stream_id = r.stream_id
            RETURNING a.stream_id
        )
        SELECT coalesce(array_agg(stream_id ORDER BY stream_id), '{}') INTO v_reclaimed
        FROM done;
        IF cardinality(v_reclaimed) > 0 THEN
            PERFORM airtrack_audit('assignment.reclaimed', p_worker,
                                   jsonb_build_object('streams', to_jsonb(v_reclaimed)));
        END IF;
    END IF;
    PERFORM airtrack_audit('worker.registered', p_worker,
                           jsonb_build_object('previous_state', v_before,
                                              'capacity', p_capacity,
                                              'incarnation', v_incarnation));
    PERFORM pg_notify('airtrack_tick', 'register:' || p_worker);
    RETURN jsonb_build_object(
        'incarnation', v_incarnation,
        'previous_state', v_before,
        'released', to_jsonb(v_released),
        'reclaimed', to_jsonb(v_reclaimed),
        'assignments', airtrack_assignments_of(p_worker));
END
$fn$;

-- ------------------------------------------------------------------ heartbeat
-- One round trip per heartbeat, the credential check included. Returns NULL when the
-- worker is unknown or gone (the worker registers again), {"credential_refused": true}
-- when the id holds a credential and p_credential (its SHA-256, hex) is not it.
CREATE OR REPLACE FUNCTION airtrack_heartbeat(
    p_worker text,
    p_credential text,
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
    -- Before anything changes: one worker cannot heartbeat for another (docs/security.md).
    -- An id that never claimed a credential stays open. Digests of random secrets are
    -- compared, so a plain comparison gives a timing attacker nothing.
    IF EXISTS (SELECT 1 FROM worker_credentials c
               WHERE c.worker_id = p_worker AND c.sha256 IS DISTINCT FROM p_credential) THEN
        RETURN jsonb_build_object('credential_refused', true);
    END IF;
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
    IF cardinality(v_handed) > 0 THEN
        PERFORM airtrack_audit('assignment.handed_off', p_worker,
                               jsonb_build_object('streams', to_jsonb(v_handed)));
    END IF;

    -- Streams reported but not held by this worker with that epoch: adopt an
    -- unassigned one while there is room, refuse the others (the worker stops them).
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
            -- A restored database: this worker owns the stream here under an older epoch
            -- than the one it runs, which only this database, before the restore, could
            -- have issued. It keeps running the stream under its epoch (recorded as its
            -- own from now on): no restart, and what it queued under it is not stale.
            IF r.worker_id = p_worker AND r.state = 'assigned' AND r.ep > r.epoch THEN
                UPDATE assignments SET epoch = r.ep, confirmed_at = now()
                WHERE stream_id = r.sid AND epoch = r.epoch AND worker_id = p_worker
                  AND state = 'assigned';
                IF FOUND THEN
                    PERFORM airtrack_audit('assignment.refenced', r.sid::text,
                                           jsonb_build_object('worker', p_worker,
                                                              'epoch', r.epoch,
                                                              'reported_epoch', r.ep));
                    CONTINUE;
                END IF;
            END IF;
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
                    PERFORM airtrack_audit('assignment.adopted', r.sid::text,
                                           jsonb_build_object('worker', p_worker));
                    CONTINUE;
                END IF;
            END IF;
            v_refused := v_refused || r.sid;
            PERFORM airtrack_audit('assignment.refused', r.sid::text,
                                   jsonb_build_object('worker', p_worker, 'reported_epoch', r.ep,
                                                      'owner', r.worker_id, 'epoch', r.epoch));
        END LOOP;

        -- Per-stream capture status from the owner; written (and logged) only when it changed.
        WITH changed AS (
            UPDATE streams s
            SET capture_status = u.st,
                last_error = u.err,
                error_since = CASE WHEN u.err IS NULL THEN NULL
                                   WHEN s.last_error IS NULL THEN now() ELSE s.error_since END
            FROM (SELECT * FROM unnest(p_sids, p_statuses, p_errors) AS z(sid, st, err)
                  WHERE NOT (z.sid = ANY(v_refused)) ORDER BY z.sid) u
            WHERE s.id = u.sid
              AND (s.capture_status IS DISTINCT FROM u.st OR s.last_error IS DISTINCT FROM u.err)
            RETURNING s.id, s.capture_status, s.last_error
        )
        INSERT INTO stream_status_log (stream_id, status, error, worker_id)
        SELECT id, capture_status, last_error, p_worker FROM changed;
    END IF;

    RETURN jsonb_build_object(
        'assignments', airtrack_assignments_of(p_worker),
        'handed_off', to_jsonb(v_handed),
        'adopted', to_jsonb(v_adopted),
        'refused', to_jsonb(v_refused));
END
$fn$;

-- ------------------------------------------------------------------ deregister
-- Graceful leave: the worker stopped its streams; they are free at once.
-- NULL when the worker is unknown (or already inactive).
CREATE OR REPLACE FUNCTION airtrack_deregister(p_worker text)
RETURNS bigint[]
LANGUAGE plpgsql AS $fn$
DECLARE
    v_released bigint[];
BEGIN
    UPDATE workers SET state = 'draining', last_heartbeat = now()
    WHERE id = p_worker AND state <> 'inactive';
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_released := airtrack_release_worker(p_worker);
    PERFORM airtrack_audit('worker.deregistered', p_worker,
                           jsonb_build_object('released', cardinality(v_released)));
    PERFORM pg_notify('airtrack_tick', 'deregister:' || p_worker);
    RETURN v_released;
END
$fn$;

-- ------------------------------------------------------------------ liveness
-- Active workers silent for longer than the lease become suspect; any worker silent
-- for longer than inactive_after becomes inactive. Nothing moves towards either.
CREATE OR REPLACE FUNCTION airtrack_expire_workers(p_lease_s double precision,
                                                   p_inactive_s double precision)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_suspect text[];
    v_inactive text[];
    v_id text;
BEGIN
    WITH done AS (
        UPDATE workers w SET state = 'suspect'
        FROM (SELECT id FROM workers
              WHERE state = 'active'
                AND last_heartbeat < now() - make_interval(secs => p_lease_s)
              ORDER BY id FOR UPDATE SKIP LOCKED) x
        WHERE w.id = x.id
        RETURNING w.id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_suspect FROM done;
    WITH done AS (
        UPDATE workers w SET state = 'inactive'
        FROM (SELECT id FROM workers
              WHERE state IN ('active', 'suspect', 'draining')
                AND last_heartbeat < now() - make_interval(secs => p_inactive_s)
              ORDER BY id FOR UPDATE SKIP LOCKED) x
        WHERE w.id = x.id
        RETURNING w.id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_inactive FROM done;
    IF cardinality(v_suspect) + cardinality(v_inactive) > 0 THEN
        PERFORM airtrack_clear_next(v_suspect || v_inactive);
    END IF;
    FOREACH v_id IN ARRAY v_suspect LOOP
        PERFORM airtrack_audit('worker.suspect', v_id, jsonb_build_object('lease_s', p_lease_s));
    END LOOP;
    FOREACH v_id IN ARRAY v_inactive LOOP
        PERFORM airtrack_audit('worker.inactive', v_id, '{}'::jsonb);
    END LOOP;
    RETURN jsonb_build_object('suspect', to_jsonb(v_suspect), 'inactive', to_jsonb(v_inactive));
END
$fn$;

-- ------------------------------------------------------------------ the leader's moves
-- Compare-and-set of one assignment, as the leader planned it from a snapshot: applied
-- only if the row is still (epoch, state, owner) as seen, so a plan from a stale
-- snapshot, or from a replica that just lost leadership, never gives a stream two
-- owners. Kinds:
--   'assign'   unassigned, or its owner is gone: the new owner at once (epoch + 1)
--   'revoke'   live owner: it lets go first (state revoking), next owner recorded
--   'redirect' already revoking: only the destination changes
--   'complete' revoking whose old owner is gone or overdue: to the next owner (or none)
CREATE OR REPLACE FUNCTION airtrack_move(
    p_sid bigint, p_epoch bigint, p_old_state text, p_old_worker text,
    p_kind text, p_to text
) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE assignments
    SET worker_id = CASE p_kind WHEN 'assign' THEN p_to WHEN 'complete' THEN p_to
                                ELSE p_old_worker END,
        next_worker_id = CASE p_kind WHEN 'assign' THEN NULL WHEN 'complete' THEN NULL
                                     ELSE p_to END,
        epoch = epoch + CASE WHEN p_kind IN ('assign', 'complete') THEN 1 ELSE 0 END,
        state = CASE WHEN p_kind IN ('revoke', 'redirect') THEN 'revoking'
                     WHEN p_to IS NULL THEN 'unassigned'
                     ELSE 'assigned' END,
        assigned_at = now(),
        confirmed_at = NULL
    WHERE stream_id = p_sid AND epoch = p_epoch AND state = p_old_state
      AND worker_id IS NOT DISTINCT FROM p_old_worker;
    RETURN FOUND;
END
$fn$;

-- ------------------------------------------------------------------ fencing a batch
-- The one fencing step of every batch a worker writes about its streams (plays, stream
-- titles: p_kind 'play' or 'title'). Shares the assignments of the batch's streams in
-- stream order (an owner cannot change under the batch), then answers for each item, in
-- the order given: the writer (its owner at that epoch, see airtrack_fenced_writer), or
-- NULL and why not:
--   unknown_stream     no such stream
--   epoch_ahead        an epoch newer than the database knows (a restored database)
--   epoch_superseded   another worker owned the stream since that epoch
--   other_writer       the epoch is another worker's than p_worker (when given)
-- Stale items are counted per stream in one audit entry '<kind>.stale'.
CREATE OR REPLACE FUNCTION airtrack_fence(
    p_kind text, p_sids bigint[], p_epochs bigint[], p_worker text
) RETURNS TABLE (writer text, reason text)
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    v_writer text;
    v_reason text;
    v_stale jsonb := '{}';
    v_reasons jsonb := '{}';
BEGIN
    PERFORM 1 FROM assignments
    WHERE stream_id = ANY(p_sids) ORDER BY stream_id FOR SHARE;

    FOR r IN
        SELECT u.sid, u.ep, a.epoch AS current_epoch
        FROM unnest(p_sids, p_epochs) WITH ORDINALITY AS u(sid, ep, ord)
        LEFT JOIN assignments a ON a.stream_id = u.sid
        ORDER BY u.ord
    LOOP
        v_writer := airtrack_fenced_writer(r.sid, r.ep);
        v_reason := CASE
            WHEN r.current_epoch IS NULL THEN 'unknown_stream'
            WHEN v_writer IS NULL AND r.ep > r.current_epoch THEN 'epoch_ahead'
            WHEN v_writer IS NULL THEN 'epoch_superseded'
            WHEN p_worker IS NOT NULL AND v_writer <> p_worker THEN 'other_writer'
        END;
        IF v_reason IS NOT NULL THEN
            v_writer := NULL;
            v_stale := jsonb_set(v_stale, ARRAY[r.sid::text],
                                 to_jsonb(coalesce((v_stale->>r.sid::text)::int, 0) + 1));
            v_reasons := jsonb_set(v_reasons, ARRAY[v_reason],
                                   to_jsonb(coalesce((v_reasons->>v_reason)::int, 0) + 1));
        END IF;
        writer := v_writer;
        reason := v_reason;
        RETURN NEXT;
    END LOOP;

    IF v_stale <> '{}' THEN
        PERFORM airtrack_audit(p_kind || '.stale', coalesce(p_worker, ''),
                               jsonb_build_object('streams', v_stale, 'reasons', v_reasons));
    END IF;
END
$fn$;

-- airtrack_fence's answer as a batch recorder (plays, titles, archive segments) uses it,
-- arrays in the items' order: writers (NULL: refused), reasons, the refused positions,
-- and the statuses with 'stale' at those positions (NULL elsewhere: the recorder fills
-- them in).
CREATE OR REPLACE FUNCTION airtrack_fence_batch(
    p_kind text, p_sids bigint[], p_epochs bigint[], p_worker text,
    OUT writers text[], OUT reasons text[], OUT stale integer[], OUT statuses text[]
)
LANGUAGE sql AS $fn$
    SELECT coalesce(array_agg(f.writer ORDER BY f.ord), '{}'),
           coalesce(array_agg(f.reason ORDER BY f.ord), '{}'),
           coalesce(array_agg(f.ord::integer ORDER BY f.ord) FILTER (WHERE f.writer IS NULL),
                    '{}'),
           coalesce(array_agg(CASE WHEN f.writer IS NULL THEN 'stale' END ORDER BY f.ord), '{}')
    FROM airtrack_fence(p_kind, p_sids, p_epochs, p_worker) WITH ORDINALITY
         AS f(writer, reason, ord)
$fn$;
