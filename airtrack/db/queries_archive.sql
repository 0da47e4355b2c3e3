-- The fingerprint archive and back-fill (functions in archive.sql and play_log.sql).

-- name: archive_record
SELECT airtrack_record_archive(%(keys)s::text[], %(sids)s::bigint[], %(epochs)s::bigint[],
                               %(starts)s::timestamptz[], %(durations)s::real[],
                               %(pairs)s::int[], %(datas)s::bytea[], %(worker)s) AS result

-- name: archive_maintain
SELECT airtrack_archive_maintain(%(keep_days)s) AS result

-- name: archive_segments
-- One stream's archived segments in a time range, oldest first (a back-fill pass reads
-- one stream at a time, at most %(limit)s segments).
SELECT started_at, duration_s, data
FROM fingerprint_archive
WHERE stream_id = %(sid)s
  AND started_at >= %(since)s AND started_at < %(until)s
ORDER BY started_at, idempotency_key
LIMIT %(limit)s

-- name: archive_streams
-- The streams with archived prints in a time range.
SELECT DISTINCT stream_id FROM fingerprint_archive
WHERE started_at >= %(since)s AND started_at < %(until)s
ORDER BY stream_id

-- name: archive_stats
SELECT count(*) AS segments, coalesce(sum(octet_length(data)), 0) AS bytes,
       coalesce(sum(duration_s), 0)::float8 AS seconds, min(started_at) AS first,
       max(started_at) AS last
FROM fingerprint_archive

-- name: backfill_due
-- Tracks added at least %(delay_s)s ago whose back-fill has not run (oldest first).
SELECT id FROM tracks
WHERE archive_searched_at IS NULL
  AND added_at <= now() - make_interval(secs => %(delay_s)s)
ORDER BY added_at, id
LIMIT %(limit)s

-- name: backfill_searched
UPDATE tracks SET archive_searched_at = now() WHERE id = ANY(%(ids)s::bigint[])

-- name: backfill_tracks_added
-- The tracks added since a time (a hand-run back-fill of recent additions).
SELECT id FROM tracks WHERE added_at >= %(since)s ORDER BY id

-- name: backfill_play
SELECT airtrack_backfill_play(%(sid)s, %(track)s, %(started)s, %(ended)s, %(conf)s,
                              %(origin)s, %(slack_s)s) AS status

-- name: backfill_prints
SELECT track_id, prints FROM track_prints
WHERE engine = %(engine)s AND track_id = ANY(%(ids)s::bigint[])
ORDER BY track_id
