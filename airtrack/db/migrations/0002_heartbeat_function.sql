-- 0002: the heartbeat as one server-side function: one round trip per heartbeat.
-- Lock order as everywhere: the worker's own row, then assignments by stream_id.
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
