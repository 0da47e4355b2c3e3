-- Every SQL statement airtrack runs, by name. Placeholders: %(name)s.
-- Lock order everywhere (R2.1): workers (by id) → assignments (by stream_id) → plays.

-- ---------------------------------------------------------------- migrations
-- name: migration_lock
SELECT pg_advisory_xact_lock(%(key)s)

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)

-- name: migrations_applied
SELECT version, name, applied_at FROM schema_migrations ORDER BY version

-- name: migration_record
INSERT INTO schema_migrations (version, name) VALUES (%(version)s, %(name)s)

-- ---------------------------------------------------------------- health
-- name: ping
SELECT 1 AS ok

-- name: server_info
SELECT current_setting('server_version') AS version,
       current_setting('statement_timeout') AS statement_timeout,
       current_setting('lock_timeout') AS lock_timeout,
       current_setting('idle_in_transaction_session_timeout') AS idle_timeout

-- ---------------------------------------------------------------- workers
-- name: worker_register
-- Idempotent (static membership): the same id keeps its row; a worker that
-- returns while still active keeps its streams.
INSERT INTO workers (id, host, version, capacity, state, registered_at, last_heartbeat)
VALUES (%(id)s, %(host)s, %(version)s, %(capacity)s, 'active', now(), now())
ON CONFLICT (id) DO UPDATE
SET host = EXCLUDED.host,
    version = EXCLUDED.version,
    capacity = EXCLUDED.capacity,
    state = 'active',
    last_heartbeat = now(),
    incarnation = workers.incarnation + 1,
    registered_at = CASE WHEN workers.state = 'active' THEN workers.registered_at ELSE now() END
RETURNING id, incarnation, state, (xmax = 0) AS created

-- name: worker_state_before
SELECT state FROM workers WHERE id = %(id)s

-- name: worker_deregister
UPDATE workers SET state = 'draining', last_heartbeat = now()
WHERE id = %(id)s AND state <> 'inactive'
RETURNING id

-- name: workers_list
SELECT w.id, w.host, w.version, w.capacity, w.state, w.registered_at, w.last_heartbeat,
       w.incarnation, w.meta,
       (SELECT count(*) FROM assignments a
         WHERE a.worker_id = w.id AND a.state IN ('assigned', 'revoking')) AS streams
FROM workers w
ORDER BY w.id

-- name: workers_expire_lease
-- Lease expiry (R1.2): active workers silent for longer than the lease become suspect.
UPDATE workers w SET state = 'suspect'
FROM (SELECT id FROM workers
      WHERE state = 'active' AND last_heartbeat < now() - make_interval(secs => %(lease_s)s)
      ORDER BY id FOR UPDATE SKIP LOCKED) x
WHERE w.id = x.id
RETURNING w.id

-- name: workers_expire_inactive
-- R4.1: silent for longer than inactive_after → inactive.
UPDATE workers w SET state = 'inactive'
FROM (SELECT id FROM workers
      WHERE state IN ('active', 'suspect', 'draining')
        AND last_heartbeat < now() - make_interval(secs => %(inactive_s)s)
      ORDER BY id FOR UPDATE SKIP LOCKED) x
WHERE w.id = x.id
RETURNING w.id

-- ---------------------------------------------------------------- assignments
-- name: assignments_for_worker
SELECT a.stream_id, s.name, s.url, a.epoch
FROM assignments a JOIN streams s ON s.id = a.stream_id
WHERE a.worker_id = %(id)s AND a.state = 'assigned' AND s.enabled
ORDER BY a.stream_id

-- name: assignments_release_worker
-- Graceful leave: the worker stopped its streams; they are free at once.
UPDATE assignments a
SET worker_id = NULL, next_worker_id = NULL, epoch = a.epoch + 1, state = 'unassigned',
    assigned_at = NULL, confirmed_at = NULL
FROM (SELECT stream_id FROM assignments
      WHERE worker_id = %(id)s AND state IN ('assigned', 'revoking')
      ORDER BY stream_id FOR UPDATE) x
WHERE a.stream_id = x.stream_id
RETURNING a.stream_id

-- name: assignments_clear_next
-- A draining/dead worker cannot receive streams in flight towards it.
UPDATE assignments a SET next_worker_id = NULL
FROM (SELECT stream_id FROM assignments
      WHERE next_worker_id = ANY(%(ids)s::text[]) ORDER BY stream_id FOR UPDATE) x
WHERE a.stream_id = x.stream_id

-- name: assignments_snapshot
SELECT a.stream_id, a.worker_id, a.next_worker_id, a.epoch, a.state, a.assigned_at,
       a.confirmed_at, s.enabled, w.state AS worker_state,
       (a.assigned_at IS NOT NULL AND a.assigned_at > now() - make_interval(secs => %(grace_s)s)
        AND a.confirmed_at IS NULL) AS starting,
       (a.state = 'revoking'
        AND a.assigned_at < now() - make_interval(secs => %(revoke_timeout_s)s)) AS revoke_overdue
FROM assignments a
JOIN streams s ON s.id = a.stream_id
LEFT JOIN workers w ON w.id = a.worker_id
ORDER BY a.stream_id

-- name: assignments_list
SELECT stream_id, worker_id, epoch, state FROM assignments ORDER BY stream_id

-- name: assignment_cas
-- Compare-and-set one assignment (the leader applies plans optimistically).
UPDATE assignments
SET worker_id = %(worker)s,
    next_worker_id = %(next)s,
    epoch = epoch + %(bump)s,
    state = %(state)s,
    assigned_at = now(),
    confirmed_at = NULL
WHERE stream_id = %(sid)s AND epoch = %(epoch)s AND state = %(old_state)s
  AND worker_id IS NOT DISTINCT FROM %(old_worker)s
RETURNING stream_id, epoch

-- ---------------------------------------------------------------- streams
-- name: stream_insert
INSERT INTO streams (name, url) VALUES (%(name)s, %(url)s)
RETURNING id, name, url, enabled, created_at, last_error

-- name: assignment_insert
INSERT INTO assignments (stream_id, state) VALUES (%(sid)s, 'unassigned')

-- name: stream_delete
DELETE FROM streams WHERE name = %(name)s RETURNING id

-- name: stream_set_url
-- The stream moved (the demo's station server on another port): the old URL's error goes.
UPDATE streams SET url = %(url)s, status = NULL, last_error = NULL, error_since = NULL
WHERE name = %(name)s AND url <> %(url)s
RETURNING id

-- name: streams_list
SELECT s.id, s.name, s.url, s.enabled, s.created_at, s.status, s.last_error, s.error_since,
       a.worker_id, a.epoch, a.state
FROM streams s LEFT JOIN assignments a ON a.stream_id = s.id
ORDER BY s.name

-- ---------------------------------------------------------------- plays
-- name: plays_fence
-- The current owner epoch of each stream named in a batch (R3.3).
SELECT a.stream_id, a.epoch, a.worker_id, a.state
FROM assignments a
WHERE a.stream_id = ANY(%(sids)s::bigint[])
ORDER BY a.stream_id
FOR SHARE

-- name: play_by_key
SELECT p.id, p.ended_at FROM plays p WHERE p.idempotency_key = %(key)s
UNION ALL
SELECT p.id, p.ended_at FROM play_keys k JOIN plays p ON p.id = k.play_id
WHERE k.idempotency_key = %(key)s
LIMIT 1

-- name: play_set_end
UPDATE plays SET ended_at = %(ended_at)s
WHERE id = %(id)s AND (ended_at IS DISTINCT FROM %(ended_at)s)
RETURNING id

-- name: play_continuation
-- The same airing reported again across a handoff or restart (§5.6): same
-- stream and track, overlapping or within a few seconds of an existing play.
-- A play still open counts as lasting at most its song's length.
SELECT p.id, p.started_at, p.ended_at
FROM plays p LEFT JOIN tracks t ON t.id = p.track_id
WHERE p.stream_id = %(sid)s AND p.track_id = %(track)s
  AND p.started_at <= %(end)s + make_interval(secs => %(gap_s)s)
  AND COALESCE(p.ended_at, p.started_at + make_interval(secs => COALESCE(t.duration_s, 600)))
      >= %(start)s - make_interval(secs => %(gap_s)s)
ORDER BY p.started_at DESC
LIMIT 1

-- name: play_merge
UPDATE plays
SET started_at = LEAST(started_at, %(start)s),
    ended_at = CASE WHEN %(end)s::timestamptz IS NULL THEN ended_at
                    ELSE GREATEST(COALESCE(ended_at, %(end)s), %(end)s) END,
    confidence = GREATEST(confidence, %(confidence)s)
WHERE id = %(id)s

-- name: play_key_alias
INSERT INTO play_keys (idempotency_key, play_id) VALUES (%(key)s, %(id)s)
ON CONFLICT DO NOTHING

-- name: play_insert
INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, ended_at, confidence,
                   worker_id, epoch)
VALUES (%(key)s, %(sid)s, (SELECT id FROM tracks WHERE id = %(track)s), %(start)s, %(end)s,
        %(confidence)s, %(worker)s, %(epoch)s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id

-- name: plays_close_previous
-- An open play whose end was never reported (its worker died) ends when the next
-- airing on the same stream starts — but never later than the song could have lasted.
UPDATE plays p
SET ended_at = LEAST(%(start)s,
                     p.started_at + make_interval(secs => COALESCE(t.duration_s, 1e6)))
FROM plays q LEFT JOIN tracks t ON t.id = q.track_id
WHERE q.id = p.id AND p.stream_id = %(sid)s AND p.ended_at IS NULL
  AND p.started_at < %(start)s AND p.id <> %(id)s

-- name: plays_list
SELECT p.stream_id, s.name AS stream, p.track_id, t.title, t.artist, t.source,
       p.started_at, p.ended_at, p.confidence, p.worker_id
FROM plays p
JOIN streams s ON s.id = p.stream_id
LEFT JOIN tracks t ON t.id = p.track_id
WHERE (%(stream)s::text IS NULL OR s.name = %(stream)s)
  AND (%(since)s::timestamptz IS NULL OR p.started_at >= %(since)s)
ORDER BY p.started_at DESC, p.id DESC
LIMIT %(limit)s

-- ---------------------------------------------------------------- control
-- name: leader_try_lock
-- Leadership: a session advisory lock on the leader's dedicated connection.
SELECT pg_try_advisory_lock(%(key)s) AS locked

-- name: leader_listen
-- The leader wakes at once on joins and leaves (NOTIFY airtrack_tick).
LISTEN airtrack_tick

-- name: control_get
SELECT value, updated_at FROM control_state WHERE key = %(key)s

-- name: control_put
INSERT INTO control_state (key, value, updated_at) VALUES (%(key)s, %(value)s, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()

-- name: event_insert
INSERT INTO events (kind, subject, detail) VALUES (%(kind)s, %(subject)s, %(detail)s)

-- name: notify_tick
SELECT pg_notify('airtrack_tick', %(why)s)


-- name: worker_heartbeat_fn
SELECT airtrack_heartbeat(%(id)s, %(sids)s::bigint[], %(epochs)s::bigint[],
                          %(statuses)s::text[], %(errors)s::text[], %(meta)s) AS result

-- name: play_epoch_still_owned
-- An older epoch is still good if no other worker has owned the stream since it.
SELECT e.worker_id
FROM assignment_epochs e
WHERE e.stream_id = %(sid)s AND e.epoch = %(epoch)s AND e.worker_id IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM assignment_epochs later
      WHERE later.stream_id = e.stream_id AND later.epoch > e.epoch
        AND later.worker_id IS NOT NULL AND later.worker_id <> e.worker_id)

-- name: assignments_reclaim
-- A worker that comes back takes again the streams it owned last, if nobody else has
-- taken them since (they became unassigned when its lease expired): it never stopped
-- running them, so they stay where they are.
UPDATE assignments a
SET worker_id = %(id)s, next_worker_id = NULL, epoch = a.epoch + 1, state = 'assigned',
    assigned_at = now(), confirmed_at = NULL
FROM (SELECT x.stream_id FROM assignments x
      JOIN streams s ON s.id = x.stream_id AND s.enabled
      JOIN assignment_epochs e ON e.stream_id = x.stream_id AND e.epoch = x.epoch - 1
      WHERE x.state = 'unassigned' AND e.worker_id = %(id)s
      ORDER BY x.stream_id
      LIMIT GREATEST(%(room)s, 0)
      FOR UPDATE OF x) r
WHERE a.stream_id = r.stream_id
RETURNING a.stream_id
