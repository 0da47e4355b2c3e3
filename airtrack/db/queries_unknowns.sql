-- Recurring unknowns: discovery's reads and writes, the list, show, dismiss and label
-- (functions in unknowns.sql).

-- name: discovery_watermark
SELECT received_at, stream_id, started_at, key FROM discovery_state

-- name: discovery_new_segments
-- Archive segments received after the watermark (arrival order), of the window's days
-- only: the started_at bound keeps the scan to the partitions that can hold them.
SELECT stream_id, started_at, duration_s, idempotency_key AS key, received_at, data
FROM fingerprint_archive
WHERE started_at >= %(oldest)s
  AND (received_at, stream_id, started_at, idempotency_key)
      > (%(received_at)s, %(stream_id)s, %(started_at)s, %(key)s)
ORDER BY received_at, stream_id, started_at, idempotency_key
LIMIT %(limit)s

-- name: discovery_advance
UPDATE discovery_state
SET received_at = %(received_at)s, stream_id = %(stream_id)s, started_at = %(started_at)s,
    key = %(key)s

-- name: discovery_covered
-- What plays cover on these streams in a time range (an open play: up to now).
SELECT stream_id, started_at, coalesce(ended_at, now() + interval '1 day') AS ended_at
FROM plays
WHERE stream_id = ANY(%(sids)s::bigint[])
  AND started_at < %(until)s
  AND coalesce(ended_at, 'infinity') > %(since)s

-- name: discovery_put_prints
INSERT INTO unknown_prints (stream_id, started_at, data)
SELECT * FROM unnest(%(sids)s::bigint[], %(starts)s::timestamptz[], %(datas)s::bytea[])
ON CONFLICT DO NOTHING

-- name: discovery_window_prints
-- The window's prints a new leader reloads, in pages (keyset on start and stream).
SELECT stream_id, started_at, data FROM unknown_prints
WHERE started_at >= %(oldest)s AND (started_at, stream_id) > (%(after)s, %(after_sid)s)
ORDER BY started_at, stream_id
LIMIT %(limit)s

-- name: discovery_forget_prints
DELETE FROM unknown_prints WHERE started_at < %(oldest)s

-- name: discovery_created_today
SELECT count(*) FROM unknowns WHERE created_at > now() - interval '1 day'

-- name: unknown_absorb
SELECT airtrack_unknown_absorb(%(sids)s::bigint[], %(starts)s::timestamptz[],
                               %(ends)s::timestamptz[], %(join)s::real, %(share)s::real,
                               %(create)s) AS id

-- name: unknown_list
-- Open unknowns with at least %(min_airings)s airings, one airing in [from, to).
SELECT u.id, count(*)::int AS airings,
       array_agg(DISTINCT s.name ORDER BY s.name) AS stations,
       round((percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM a.ended_at - a.started_at)))::numeric, 1)::float8
           AS duration_s,
       min(a.started_at) AS first, max(a.started_at) AS last,
       u.status, u.track_id
FROM unknowns u
JOIN unknown_airings a ON a.unknown_id = u.id
JOIN streams s ON s.id = a.stream_id
WHERE (u.status = 'open' OR %(all)s::boolean)
  AND (u.id = %(id)s::bigint OR %(id)s::bigint IS NULL)
GROUP BY u.id
HAVING count(*) >= %(min_airings)s
   AND (%(from)s::timestamptz IS NULL OR max(a.started_at) >= %(from)s::timestamptz)
   AND (%(to)s::timestamptz IS NULL OR min(a.started_at) < %(to)s::timestamptz)
ORDER BY count(*) DESC, u.id
LIMIT %(limit)s

-- name: unknown_airings
SELECT s.name AS stream, a.stream_id, a.started_at AS start, a.ended_at AS end
FROM unknown_airings a JOIN streams s ON s.id = a.stream_id
WHERE a.unknown_id = %(id)s
ORDER BY a.started_at, s.name

-- name: unknown_status
SELECT airtrack_unknown_status(%(id)s, %(status)s, %(track)s::bigint) AS status

-- name: unknown_segments
-- One stream's archive segments that may hold a stretch (a label builds prints from them).
SELECT started_at, duration_s, data
FROM fingerprint_archive
WHERE stream_id = %(sid)s
  AND started_at >= %(since)s AND started_at < %(until)s
ORDER BY started_at, idempotency_key

-- name: unknown_clip_due
-- The newest airing of an unknown that wants a proof clip of it: open, aired at least
-- twice, with no clip yet and no request still pending (an expired one is asked again).
-- No row: none wanted.
SELECT a.stream_id, a.started_at, a.ended_at
FROM unknowns u
JOIN LATERAL (SELECT * FROM unknown_airings x WHERE x.unknown_id = u.id
              ORDER BY x.started_at DESC LIMIT 1) a ON true
WHERE u.id = %(id)s
  AND u.status = 'open'
  AND (SELECT count(*) FROM unknown_airings x WHERE x.unknown_id = u.id) >= 2
  AND NOT EXISTS (SELECT 1 FROM clips c WHERE c.unknown_id = u.id)
  AND NOT EXISTS (SELECT 1 FROM clip_requests q WHERE q.unknown_id = u.id
                                                  AND q.state = 'pending')
