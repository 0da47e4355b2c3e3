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
-- name: worker_credential_claim
-- The id's credential becomes this one when it has none, already is this one, or the id
-- is not live (no row, or inactive: a machine replaced). Returns a row only on success.
INSERT INTO worker_credentials AS c (worker_id, sha256) VALUES (%(id)s, %(sha256)s)
ON CONFLICT (worker_id) DO UPDATE SET sha256 = EXCLUDED.sha256, set_at = now()
WHERE c.sha256 = EXCLUDED.sha256
   OR NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = EXCLUDED.worker_id
                  AND w.state <> 'inactive')
RETURNING worker_id

-- name: worker_credential_get
SELECT sha256 FROM worker_credentials WHERE worker_id = %(id)s

-- name: worker_credential_reset
DELETE FROM worker_credentials WHERE worker_id = %(id)s RETURNING worker_id

-- name: worker_exists
SELECT EXISTS (SELECT 1 FROM workers WHERE id = %(id)s)

-- name: tracks_known
SELECT coalesce(array_agg(id), '{}') FROM tracks WHERE id = ANY(%(ids)s::bigint[])

-- name: tracks_removed_at
SELECT id, removed_at FROM removed_tracks WHERE id = ANY(%(ids)s::bigint[])

-- name: workers_list
SELECT w.id, w.host, w.version, w.capacity, w.state, w.registered_at, w.last_heartbeat,
       w.incarnation, w.meta,
       (SELECT count(*) FROM assignments a
         WHERE a.worker_id = w.id AND a.state IN ('assigned', 'revoking')) AS streams
FROM workers w
ORDER BY w.id

-- ---------------------------------------------------------------- assignments
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

-- ---------------------------------------------------------------- streams
-- name: stream_insert
INSERT INTO streams (name, url, backup_urls, timezone, country, region, city, genre, extra,
                     stats_url)
VALUES (%(name)s, %(url)s, %(backup_urls)s, %(timezone)s, %(country)s, %(region)s, %(city)s,
        %(genre)s, %(extra)s, %(stats_url)s)
RETURNING id, name, url, enabled, created_at, last_error,
          backup_urls, timezone, country, region, city, genre, extra, stats_url


-- name: streams_lock_by_name
-- the streams an edit or import names, locked in id order
SELECT id, name, url, backup_urls, timezone, country, region, city, genre, extra, stats_url
FROM streams
WHERE name = ANY(%(names)s)
ORDER BY id
FOR UPDATE

-- name: stream_update
UPDATE streams
SET name = %(name)s, url = %(url)s, backup_urls = %(backup_urls)s, timezone = %(timezone)s,
    country = %(country)s, region = %(region)s, city = %(city)s, genre = %(genre)s,
    extra = %(extra)s, stats_url = %(stats_url)s
WHERE id = %(id)s
RETURNING id, name, url, enabled, created_at, last_error,
          backup_urls, timezone, country, region, city, genre, extra, stats_url

-- name: assignment_insert
INSERT INTO assignments (stream_id, state) VALUES (%(sid)s, 'unassigned')

-- name: stream_delete
DELETE FROM streams WHERE name = %(name)s RETURNING id

-- name: stream_set_url
-- The stream moved (the demo's station server on another port): the old URL's error goes.
UPDATE streams SET url = %(url)s, capture_status = NULL, last_error = NULL, error_since = NULL
WHERE name = %(name)s AND url <> %(url)s
RETURNING id

-- name: stream_delete_by_id
DELETE FROM streams WHERE id = %(id)s RETURNING id, name

-- name: stream_with_url
SELECT id, name FROM streams WHERE url = %(url)s LIMIT 1

-- name: streams_list
SELECT s.id, s.name, s.url, s.enabled, s.created_at, s.capture_status, s.last_error, s.error_since,
       s.backup_urls, s.timezone, s.country, s.region, s.city, s.genre, s.extra, s.stats_url,
       -- the URL its owner last reported reading (heartbeat meta of the owning worker)
       (SELECT x->>'url_in_use'
        FROM workers w, jsonb_array_elements(w.meta->'streams') x
        WHERE w.id = a.worker_id AND (x->>'stream_id')::bigint = s.id
        LIMIT 1) AS url_in_use,
       a.worker_id, a.epoch, a.state AS assignment_state,
       s.health, s.health_since, s.health_cause
FROM streams s LEFT JOIN assignments a ON a.stream_id = s.id
ORDER BY s.name

-- ---------------------------------------------------------------- plays

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

-- name: audit_insert
SELECT airtrack_audit(%(kind)s, %(subject)s, %(detail)s)

-- name: notify_tick
SELECT pg_notify('airtrack_tick', %(why)s)

-- ---------------------------------------------------------------- ownership
-- Every change of who owns a stream is a function in ownership.sql; these call them.

-- name: script_applied
SELECT sha256 FROM schema_scripts WHERE name = %(name)s

-- name: script_record
INSERT INTO schema_scripts (name, sha256) VALUES (%(name)s, %(sha256)s)
ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()

-- name: ownership_register
SELECT airtrack_register(%(id)s, %(host)s, %(version)s, %(capacity)s) AS result

-- name: ownership_heartbeat
SELECT airtrack_heartbeat(%(id)s, %(credential)s, %(sids)s::bigint[], %(epochs)s::bigint[],
                          %(statuses)s::text[], %(errors)s::text[], %(meta)s) AS result

-- name: ownership_deregister
SELECT airtrack_deregister(%(id)s) AS released

-- name: ownership_expire_workers
SELECT airtrack_expire_workers(%(lease_s)s, %(inactive_s)s) AS result

-- name: ownership_move
SELECT airtrack_move(%(sid)s, %(epoch)s, %(old_state)s, %(old_worker)s, %(kind)s, %(to)s)
       AS applied

-- name: ownership_audit
SELECT airtrack_audit(%(kind)s, %(subject)s, %(detail)s)

-- ---------------------------------------------------------------- play log
-- Fenced batches and the review of what the fence refused: functions in play_log.sql.

-- name: play_log_record_plays
SELECT airtrack_record_plays(%(keys)s::text[], %(sids)s::bigint[], %(epochs)s::bigint[],
                             %(tracks)s::bigint[], %(starts)s::timestamptz[],
                             %(ends)s::timestamptz[], %(confidences)s::float8[],
                             %(origins)s::timestamptz[], %(gap_s)s, %(overlap_s)s,
                             %(align_s)s, %(worker)s, %(refused_max)s) AS result

-- name: play_log_record_titles
SELECT airtrack_record_titles(%(keys)s::text[], %(sids)s::bigint[], %(epochs)s::bigint[],
                              %(ats)s::timestamptz[], %(titles)s::text[], %(urls)s::text[],
                              %(encodings)s::text[], %(artists)s::text[], %(songs)s::text[],
                              %(max_s)s, %(worker)s, %(refused_max)s) AS result

-- name: play_log_refused
SELECT r.id, r.kind, r.idempotency_key AS key, r.stream_id, s.name AS stream, r.epoch,
       r.worker_id, r.reason, r.item, r.refused_at, r.times
FROM refused_plays r LEFT JOIN streams s ON s.id = r.stream_id
WHERE (%(stream)s::text IS NULL OR s.name = %(stream)s)
ORDER BY r.stream_id, r.refused_at, r.id
LIMIT %(limit)s

-- name: play_log_refused_count
SELECT count(*) AS n FROM refused_plays

-- name: play_log_accept_refused
SELECT id, outcome FROM airtrack_accept_refused(%(ids)s::bigint[], %(gap_s)s, %(overlap_s)s,
                                                %(align_s)s, %(max_s)s)

-- name: play_log_discard_refused
SELECT airtrack_discard_refused(%(ids)s::bigint[]) AS ids

-- name: time_zone_names
-- The zones this server can convert to (AT TIME ZONE): Python's zoneinfo also accepts
-- names PostgreSQL refuses (localtime, posix/..., right/...).
SELECT name FROM pg_timezone_names
