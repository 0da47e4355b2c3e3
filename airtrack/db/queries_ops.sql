-- Operations (docs/operations.md): alerts, error patterns, failure events, diagnostics, health.

-- ---------------------------------------------------------------- alerts
-- name: ops_alert_raise
-- Deduplicated while open; alert.raised is emitted with it (events.sql).
SELECT * FROM airtrack_alert_raise(%(severity)s, %(kind)s, %(subject)s, %(message)s)

-- name: ops_alert_resolve
SELECT * FROM airtrack_alert_resolve(%(kind)s, %(subject)s)

-- name: ops_alerts_list
SELECT id, severity, kind, subject, message, first_seen, last_seen, count, resolved_at
FROM alerts
WHERE %(all)s OR resolved_at IS NULL
ORDER BY resolved_at IS NULL DESC,
         CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
         last_seen DESC
LIMIT %(limit)s

-- ---------------------------------------------------------------- error patterns
-- name: ops_pattern_upsert
-- At most %(max)s distinct signatures (workers can send any text): a new one past that
-- counts under the one overflow pattern instead of adding a row.
INSERT INTO error_patterns (signature, source, count, sample)
SELECT CASE WHEN known OR n < %(max)s THEN %(signature)s ELSE '(overflow)' END,
       %(source)s, %(count)s,
       CASE WHEN known OR n < %(max)s THEN %(sample)s
            ELSE 'further error patterns beyond error_patterns_max' END
FROM (SELECT EXISTS (SELECT 1 FROM error_patterns WHERE signature = %(signature)s) AS known,
             (SELECT count(*) FROM error_patterns) AS n) c
ON CONFLICT (signature) DO UPDATE
SET count = error_patterns.count + EXCLUDED.count, last_seen = now()

-- name: ops_patterns_top
SELECT signature, source, count, first_seen, last_seen, sample
FROM error_patterns ORDER BY count DESC, last_seen DESC LIMIT %(limit)s

-- ---------------------------------------------------------------- failure events
-- name: ops_audit_insert
INSERT INTO audit_log (kind, subject, detail)
SELECT * FROM unnest(%(kinds)s::text[], %(subjects)s::text[], %(details)s::jsonb[])

-- name: ops_failures_since
-- Failures other replicas saw; the leader folds them into its ledger.
SELECT id, subject, detail FROM audit_log
WHERE id > %(after)s AND kind = 'comm.failure' AND detail->>'replica' <> %(replica)s
ORDER BY id LIMIT 1000

-- name: ops_last_audit_id
SELECT COALESCE(max(id), 0) AS id FROM audit_log

-- ---------------------------------------------------------------- liveness view
-- name: ops_worker_silence
-- Seconds since each live worker's last heartbeat, by the database clock.
SELECT id, state, EXTRACT(EPOCH FROM (now() - last_heartbeat))::float8 AS silent_s
FROM workers WHERE state IN ('active', 'suspect') ORDER BY id

-- ---------------------------------------------------------------- diagnostics
-- name: ops_diag_streams
SELECT s.id, s.name, s.url, s.enabled, s.capture_status, s.last_error, s.error_since,
       EXTRACT(EPOCH FROM (now() - s.error_since))::float8 AS error_for_s,
       a.worker_id, a.next_worker_id, a.epoch, a.state AS assignment_state, a.assigned_at, a.confirmed_at,
       EXTRACT(EPOCH FROM (now() - a.assigned_at))::float8 AS state_for_s,
       w.state AS worker_state, s.health,
       -- since the last play, title, status change, assignment or creation: how long a
       -- stream has given nothing to log
       EXTRACT(EPOCH FROM (now() - GREATEST(
           (SELECT max(p.started_at) FROM plays p WHERE p.stream_id = s.id),
           (SELECT max(t.at) FROM stream_titles t WHERE t.stream_id = s.id),
           (SELECT max(l.at) FROM stream_status_log l WHERE l.stream_id = s.id),
           a.assigned_at, s.created_at)))::float8 AS quiet_for_s,
       -- the URL its owner last reported reading (a backup URL after a failover)
       (SELECT x->>'url_in_use' FROM jsonb_array_elements(w.meta->'streams') x
        WHERE (x->>'stream_id')::bigint = s.id LIMIT 1) AS url_in_use
FROM streams s
LEFT JOIN assignments a ON a.stream_id = s.id
LEFT JOIN workers w ON w.id = a.worker_id
ORDER BY s.id

-- name: ops_diag_workers
SELECT w.id, w.host, w.version, w.capacity, w.state, w.registered_at, w.last_heartbeat,
       w.incarnation, w.meta,
       EXTRACT(EPOCH FROM (now() - w.last_heartbeat))::float8 AS silent_s,
       (SELECT count(*) FROM assignments a
         WHERE a.worker_id = w.id AND a.state IN ('assigned', 'revoking')) AS streams
FROM workers w ORDER BY w.id

-- name: ops_diag_control
SELECT key, value, updated_at, EXTRACT(EPOCH FROM (now() - updated_at))::float8 AS age_s
FROM control_state ORDER BY key

-- name: ops_diag_counts
SELECT (SELECT count(*) FROM tracks) AS tracks,
       (SELECT count(*) FROM plays) AS plays,
       (SELECT count(*) FROM plays WHERE recorded_at > now() - interval '1 hour') AS plays_1h,
       (SELECT COALESCE(max(epoch), 0) FROM assignments) AS max_epoch,
       (SELECT count(*) FROM refused_plays) AS refused,
       now() AS now

-- name: ops_diag_events_held
-- Events committed but not deliverable yet (webhooks and the event stream deliver in
-- commit order: below airtrack_events_horizon() only): how many, how long the oldest has
-- waited, and the transaction of this database they wait behind (its pid NULL when this
-- role may not see it, or when none is open any more).
WITH h AS MATERIALIZED (SELECT airtrack_events_horizon() AS x),
w AS (SELECT count(*) AS waiting, EXTRACT(EPOCH FROM (now() - min(o.at)))::float8 AS waiting_s
      FROM outbound_events o WHERE o.txid >= (SELECT x FROM h))
SELECT w.waiting, w.waiting_s, a.pid, a.usename::text AS user_name, a.application_name,
       host(a.client_addr) AS client, a.state,
       EXTRACT(EPOCH FROM (now() - a.xact_start))::float8 AS open_s,
       left(a.query, 200) AS query
FROM w LEFT JOIN pg_stat_activity a
  ON w.waiting > 0 AND a.datname = current_database()
 AND a.backend_xid = (SELECT x FROM h)::xid

-- ---------------------------------------------------------------- health
-- name: ops_health_probe
-- A real write: proves the database accepts writes, not just reads.
INSERT INTO control_state (key, value, updated_at) VALUES ('health_probe', %(value)s, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
RETURNING updated_at

-- name: ops_health_leader
SELECT EXTRACT(EPOCH FROM (now() - updated_at))::float8 AS age_s, value
FROM control_state WHERE key = 'leader'

-- name: ops_health_integrity
SELECT
  (SELECT count(*) FROM assignments a JOIN workers w ON w.id = a.worker_id
    WHERE a.state IN ('assigned', 'revoking') AND w.state = 'inactive') AS inactive_owner,
  (SELECT count(*) FROM assignments a
    WHERE a.worker_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = a.worker_id)) AS unknown_owner,
  (SELECT count(*) FROM streams s
    WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.stream_id = s.id)) AS streams_without_row,
  (SELECT count(*) FROM plays p
    WHERE NOT EXISTS (SELECT 1 FROM streams s WHERE s.id = p.stream_id)) AS orphan_plays,
  (SELECT count(*) FROM play_keys k
    WHERE NOT EXISTS (SELECT 1 FROM plays p WHERE p.id = k.play_id)) AS orphan_play_keys,
  (SELECT count(*) FROM (SELECT p.stream_id FROM plays p JOIN assignments a
     ON a.stream_id = p.stream_id GROUP BY p.stream_id, a.epoch
     HAVING max(p.epoch) > a.epoch) x) AS epoch_ahead,
  (SELECT count(*) FROM assignments a
    WHERE a.state = 'revoking' AND a.next_worker_id = a.worker_id) AS self_handoff

-- name: ops_health_capacity
SELECT w.id, w.capacity, count(a.stream_id) AS streams
FROM workers w JOIN assignments a ON a.worker_id = w.id AND a.state IN ('assigned', 'revoking')
GROUP BY w.id, w.capacity
HAVING count(a.stream_id) > w.capacity
ORDER BY w.id

-- ---------------------------------------------------------------- database check
-- name: ops_check_schema_known
SELECT to_regclass('schema_migrations') IS NOT NULL AS known

-- name: ops_check_scripts
SELECT name, sha256 FROM schema_scripts ORDER BY name

-- name: ops_check_counts
-- What a restore brought back, table by table (exact counts: a check, not a dashboard).
SELECT 'streams' AS name, count(*) AS n FROM streams
UNION ALL SELECT 'workers', count(*) FROM workers
UNION ALL SELECT 'assignments', count(*) FROM assignments
UNION ALL SELECT 'tracks', count(*) FROM tracks
UNION ALL SELECT 'plays', count(*) FROM plays
UNION ALL SELECT 'stream_titles', count(*) FROM stream_titles
UNION ALL SELECT 'refused_plays', count(*) FROM refused_plays
UNION ALL SELECT 'audit_log', count(*) FROM audit_log
UNION ALL SELECT 'outbound_events', count(*) FROM outbound_events

-- name: ops_check_latest_plays
-- The newest play of each stream: where each station's log stops in this database.
SELECT s.id AS stream_id, s.name, s.enabled, a.epoch, a.worker_id, a.state,
       p.started_at AS latest_play
FROM streams s
LEFT JOIN assignments a ON a.stream_id = s.id
LEFT JOIN LATERAL (SELECT q.started_at FROM plays q WHERE q.stream_id = s.id
                   ORDER BY q.started_at DESC LIMIT 1) p ON true
ORDER BY s.id
