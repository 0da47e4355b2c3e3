-- Reports (issue 10 §3) and the paged play log. Every report query takes its streams as
-- parallel arrays (id, name, time zone, range start, range end in UTC): each station's
-- range is its own local day boundaries, so one query serves stations in many zones.

-- name: report_streams
SELECT id, name, timezone FROM streams ORDER BY name

-- name: report_tx_limits
-- A report export is one long read: give its transaction the report cap, not tx_max_s.
SELECT set_config('statement_timeout', %(ms)s, true),
       set_config('idle_in_transaction_session_timeout', %(ms)s, true)

-- name: report_plays
-- One row per play that overlaps the station's range, clipped to it. The lower bound on
-- started_at (range start - longest play) keeps the scan on plays_stream_started_idx.
SELECT p.id AS play_id, r.name AS station, r.tz, p.started_at, p.ended_at,
       GREATEST(p.started_at, r.t0) AS start_utc,
       LEAST(COALESCE(p.ended_at, p.started_at), r.t1) AS end_utc,
       (p.started_at < r.t0 OR COALESCE(p.ended_at, p.started_at) > r.t1) AS clipped,
       t.title, t.artist, t.album, t.label, t.isrc, t.iswc, t.composers,
       p.confidence, p.track_id
FROM unnest(%(ids)s::bigint[], %(names)s::text[], %(tzs)s::text[],
            %(t0s)s::timestamptz[], %(t1s)s::timestamptz[])
     WITH ORDINALITY AS r(stream_id, name, tz, t0, t1, ord)
CROSS JOIN LATERAL (
    SELECT q.id, q.started_at, q.ended_at, q.confidence, q.track_id
    FROM plays q
    WHERE q.stream_id = r.stream_id
      AND q.started_at < r.t1
      AND q.started_at > r.t0 - make_interval(secs => %(max_play_s)s)
      AND (q.started_at >= r.t0 OR q.ended_at > r.t0)
) p
LEFT JOIN tracks t ON t.id = p.track_id
ORDER BY r.ord, p.started_at, p.id

-- name: report_summary
-- Per station x track, then (station NULL) per track across the stations asked for.
SELECT r.name AS station, min(r.tz) AS tz, p.track_id, t.title, t.artist, t.isrc,
       count(*) AS plays,
       sum(extract(epoch FROM LEAST(COALESCE(p.ended_at, p.started_at), r.t1)
                              - GREATEST(p.started_at, r.t0)))::float8 AS airtime_s,
       min(GREATEST(p.started_at, r.t0)) AS first_at,
       max(p.started_at) AS last_at
FROM unnest(%(ids)s::bigint[], %(names)s::text[], %(tzs)s::text[],
            %(t0s)s::timestamptz[], %(t1s)s::timestamptz[])
     WITH ORDINALITY AS r(stream_id, name, tz, t0, t1, ord)
JOIN plays p ON p.stream_id = r.stream_id
            AND p.started_at < r.t1
            AND p.started_at > r.t0 - make_interval(secs => %(max_play_s)s)
            AND (p.started_at >= r.t0 OR p.ended_at > r.t0)
LEFT JOIN tracks t ON t.id = p.track_id
GROUP BY GROUPING SETS ((r.ord, r.name, p.track_id, t.title, t.artist, t.isrc),
                        (p.track_id, t.title, t.artist, t.isrc))
ORDER BY r.ord NULLS LAST, count(*) DESC, p.track_id

-- name: report_owner_history
-- Who owned each stream over its range: the last change before the range, then each in it.
SELECT r.stream_id, e.at, e.worker_id
FROM unnest(%(ids)s::bigint[], %(t0s)s::timestamptz[], %(t1s)s::timestamptz[])
     AS r(stream_id, t0, t1)
CROSS JOIN LATERAL (
    (SELECT a.at, a.epoch, a.worker_id FROM assignment_epochs a
     WHERE a.stream_id = r.stream_id AND a.at < r.t0 ORDER BY a.at DESC, a.epoch DESC LIMIT 1)
    UNION ALL
    (SELECT a.at, a.epoch, a.worker_id FROM assignment_epochs a
     WHERE a.stream_id = r.stream_id AND a.at >= r.t0 AND a.at < r.t1)
) e
ORDER BY r.stream_id, e.at, e.epoch

-- name: report_status_history
-- Each stream's reported status over its range: the last change before it, then each in it.
SELECT r.stream_id, l.at, l.status, l.error
FROM unnest(%(ids)s::bigint[], %(t0s)s::timestamptz[], %(t1s)s::timestamptz[])
     AS r(stream_id, t0, t1)
CROSS JOIN LATERAL (
    (SELECT s.at, s.id, s.status, s.error FROM stream_status_log s
     WHERE s.stream_id = r.stream_id AND s.at < r.t0 ORDER BY s.at DESC, s.id DESC LIMIT 1)
    UNION ALL
    (SELECT s.at, s.id, s.status, s.error FROM stream_status_log s
     WHERE s.stream_id = r.stream_id AND s.at >= r.t0 AND s.at < r.t1)
) l
ORDER BY r.stream_id, l.at, l.id

-- name: plays_page
-- The play log newest first, keyset-paged on (started_at, id).
SELECT p.id, p.stream_id, s.name AS stream, p.track_id, t.title, t.artist, t.source,
       t.isrc, p.started_at, p.ended_at, p.confidence, p.worker_id
FROM plays p
JOIN streams s ON s.id = p.stream_id
LEFT JOIN tracks t ON t.id = p.track_id
WHERE (%(stream)s::text IS NULL OR s.name = %(stream)s)
  AND (%(since)s::timestamptz IS NULL OR p.started_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR p.started_at < %(until)s)
  AND (%(track_id)s::bigint IS NULL OR p.track_id = %(track_id)s)
  AND (%(isrc)s::text IS NULL OR t.isrc = %(isrc)s)
  AND (%(after_at)s::timestamptz IS NULL OR (p.started_at, p.id) < (%(after_at)s, %(after_id)s))
ORDER BY p.started_at DESC, p.id DESC
LIMIT %(limit)s

-- name: plays_stream_exists
SELECT EXISTS (SELECT 1 FROM streams WHERE name = %(name)s) AS found

-- name: plays_track_exists
SELECT EXISTS (SELECT 1 FROM tracks WHERE id = %(id)s) AS found
