-- Each stream's health as operators and integrations see it (docs/integrations.md):
--
--   up           its owner reports audio flowing (capture_status 'running')
--   down         its owner reports errors (connection, HTTP, not audio) for longer than
--                the down delay, or silence (the worker reports it only after its own
--                silence delay, so silence is down at once)
--   unmonitored  no worker has it (unassigned, or disabled)
--
-- A stream whose owner is starting or has only just started failing keeps its health.
-- The worker reports an error only when every URL of the stream failed (it fails over to
-- the backup URLs first), so 'down' is about the station, not one URL.
--
--   airtrack_stream_state_evaluate  run by the leader each control tick: moves health,
--                                   logs transitions, emits stream.down / stream.up and
--                                   raises / escalates / resolves the stream.down alert
--   airtrack_stream_uptime          seconds up and down per stream in a recent window
--
-- Applied by airtrack.db.migrations like ownership.sql (CREATE OR REPLACE only).

CREATE OR REPLACE FUNCTION airtrack_stream_state_evaluate(
    p_down_after_s double precision, p_critical_after_s double precision)
RETURNS TABLE (stream_id bigint, name text, old_state text, new_state text, cause text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    r record;
BEGIN
    FOR r IN
        WITH judged AS (
            SELECT s.id, s.name, s.health AS old_state, s.health_since,
                   CASE
                     WHEN NOT s.enabled THEN 'unmonitored'
                     WHEN a.worker_id IS NULL OR a.state = 'unassigned' THEN 'unmonitored'
                     WHEN s.capture_status = 'running' THEN 'up'
                     WHEN s.capture_status IN ('retrying', 'failed') AND s.error_since IS NOT NULL
                          AND (s.last_error LIKE 'silence%'
                               OR s.error_since <= now() - make_interval(secs => p_down_after_s))
                          THEN 'down'
                     WHEN s.health = 'unmonitored' THEN 'unmonitored'
                     ELSE s.health
                   END AS new_state,
                   CASE
                     WHEN NOT s.enabled THEN 'disabled'
                     WHEN a.worker_id IS NULL OR a.state = 'unassigned' THEN 'no worker has it'
                     WHEN s.capture_status = 'running' THEN 'audio flowing'
                     ELSE COALESCE(s.last_error, s.capture_status)
                   END AS cause
            FROM streams s
            LEFT JOIN assignments a ON a.stream_id = s.id
        )
        SELECT * FROM judged WHERE new_state <> old_state
    LOOP
        -- Compare-and-set instead of locking every stream each tick (heartbeats write these
        -- rows): a row another leader moved meanwhile is left to the next tick.
        UPDATE streams SET health = r.new_state, health_since = now(), health_cause = r.cause
        WHERE id = r.id AND health = r.old_state;
        IF NOT FOUND THEN
            CONTINUE;
        END IF;
        INSERT INTO stream_state_log (stream_id, state, cause) VALUES (r.id, r.new_state, r.cause);
        IF r.new_state = 'down' THEN
            PERFORM airtrack_emit('stream.down', r.id, jsonb_build_object(
                'stream_id', r.id, 'station', r.name, 'state', 'down', 'previous', r.old_state,
                'cause', r.cause, 'since', now()));
            PERFORM airtrack_alert_raise('warning', 'stream.down', r.name,
                format('%s is down: %s', r.name, r.cause), r.id);
        ELSIF r.old_state = 'down' THEN
            IF r.new_state = 'up' THEN
                PERFORM airtrack_emit('stream.up', r.id, jsonb_build_object(
                    'stream_id', r.id, 'station', r.name, 'state', 'up', 'previous', 'down',
                    'cause', r.cause, 'since', now(),
                    'down_s', EXTRACT(EPOCH FROM (now() - r.health_since))));
            END IF;
            PERFORM airtrack_alert_resolve('stream.down', r.name, r.id);
        END IF;
        stream_id := r.id; name := r.name; old_state := r.old_state;
        new_state := r.new_state; cause := r.cause;
        RETURN NEXT;
    END LOOP;
    -- Down for longer than the critical delay: the warning becomes critical (once).
    PERFORM airtrack_alert_raise('critical', 'stream.down', s.name,
                format('%s is down since %s: %s', s.name, s.health_since, s.health_cause), s.id)
    FROM streams s
    JOIN alerts al ON al.kind = 'stream.down' AND al.subject = s.name
                  AND al.resolved_at IS NULL AND al.severity <> 'critical'
    WHERE s.health = 'down' AND s.health_since <= now() - make_interval(secs => p_critical_after_s);
END
$fn$;

-- Seconds each stream spent up and down within the last p_window (from stream_state_log;
-- the state at the window's start is the last transition before it).
CREATE OR REPLACE FUNCTION airtrack_stream_uptime(p_window interval)
RETURNS TABLE (stream_id bigint, name text, state text, up_s double precision,
               down_s double precision)
LANGUAGE sql STABLE AS $fn$
    WITH bounds AS (SELECT now() - p_window AS t0, now() AS t1),
    marks AS (
        SELECT l.stream_id, l.state, greatest(l.at, b.t0) AS at
        FROM stream_state_log l, bounds b
        WHERE l.at > b.t0
           OR l.id = (SELECT l2.id FROM stream_state_log l2
                      WHERE l2.stream_id = l.stream_id AND l2.at <= b.t0
                      ORDER BY l2.at DESC, l2.id DESC LIMIT 1)
    ),
    spans AS (
        SELECT m.stream_id, m.state,
               EXTRACT(EPOCH FROM (COALESCE(lead(m.at) OVER w, b.t1) - m.at))::float8 AS secs
        FROM marks m, bounds b
        WINDOW w AS (PARTITION BY m.stream_id ORDER BY m.at)
    )
    SELECT s.id, s.name, s.health,
           COALESCE(sum(sp.secs) FILTER (WHERE sp.state = 'up'), 0),
           COALESCE(sum(sp.secs) FILTER (WHERE sp.state = 'down'), 0)
    FROM streams s LEFT JOIN spans sp ON sp.stream_id = s.id
    GROUP BY s.id, s.name, s.health
    ORDER BY s.id;
$fn$;
