-- Reports (docs/reports.md) and the paged play log. Every report query takes its streams as
-- parallel arrays (id, name, time zone, range start, range end in UTC): each station's
-- range is its own local day boundaries, so one query serves stations in many zones.

-- name: report_streams
SELECT id, name, timezone, created_at FROM streams ORDER BY name

-- name: report_tx_limits
-- A report export is one long read: give its transaction the report cap, not tx_max_s.
SELECT set_config('statement_timeout', %(ms)s, true),
       set_config('idle_in_transaction_session_timeout', %(ms)s, true)

-- name: report_plays
-- One row per play that overlaps the station's range, clipped to it, in the report's
-- column order (reports/shape.py PLAYS). Times are formatted here, as ISO-8601 text with
-- the station's offset, because PostgreSQL does it in C: the Python side then passes
-- rows through untouched (bench/bench_reports.py). The lower bound on started_at (range
-- start - longest play) keeps the scan on plays_stream_started_idx. A play still on air
-- (no end yet) is left out unless include_open; then its end and duration are empty
-- (NULL) and in_progress says why, instead of an end equal to its start.
SELECT p.id, r.name,
       to_char(l.ls, 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN l.ls < l.us THEN '-' ELSE '+' END
         || to_char(CASE WHEN l.ls < l.us THEN l.us - l.ls ELSE l.ls - l.us END, 'HH24:MI'),
       CASE WHEN p.ended_at IS NOT NULL THEN
       to_char(l.le, 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN l.le < l.ue THEN '-' ELSE '+' END
         || to_char(CASE WHEN l.le < l.ue THEN l.ue - l.le ELSE l.le - l.ue END, 'HH24:MI')
       END,
       CASE WHEN l.ls < l.us THEN '-' ELSE '+' END
         || to_char(CASE WHEN l.ls < l.us THEN l.us - l.ls ELSE l.ls - l.us END, 'HH24:MI'),
       to_char(l.us, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
       CASE WHEN p.ended_at IS NOT NULL THEN to_char(l.ue, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') END,
       CASE WHEN p.ended_at IS NOT NULL THEN round(extract(epoch FROM c.e - c.s), 3)::float8 END,
       COALESCE(t.title, p.track_title), COALESCE(t.artist, p.track_artist), t.album,
       t.label, COALESCE(t.isrc, p.track_isrc), t.iswc,
       array_to_string(t.composers, '; '),
       p.confidence, p.track_id,
       (p.started_at < r.t0 OR COALESCE(p.ended_at, p.started_at) > r.t1),
       p.ended_at IS NULL,
       p.source = 'backfill'
FROM unnest(%(ids)s::bigint[], %(names)s::text[], %(tzs)s::text[],
            %(t0s)s::timestamptz[], %(t1s)s::timestamptz[])
     WITH ORDINALITY AS r(stream_id, name, tz, t0, t1, ord)
CROSS JOIN LATERAL (
    SELECT q.id, q.started_at, q.ended_at, q.confidence, q.track_id, q.track_title,
           q.track_artist, q.track_isrc, q.source
    FROM plays q
    WHERE q.stream_id = r.stream_id
      -- rights reports count what was heard, now or later in the archive (back-fill)
      AND q.source IN ('fingerprint', 'backfill')
      AND q.started_at < r.t1
      AND q.started_at > r.t0 - make_interval(secs => %(max_play_s)s)
      AND (q.started_at >= r.t0 OR q.ended_at > r.t0 OR q.ended_at IS NULL)
      AND (q.ended_at IS NOT NULL OR %(include_open)s)
) p
CROSS JOIN LATERAL (
    SELECT GREATEST(p.started_at, r.t0) AS s,
           LEAST(COALESCE(p.ended_at, p.started_at), r.t1) AS e
) c
CROSS JOIN LATERAL (
    SELECT c.s AT TIME ZONE r.tz AS ls, c.e AT TIME ZONE r.tz AS le,
           c.s AT TIME ZONE 'UTC' AS us, c.e AT TIME ZONE 'UTC' AS ue
) l
LEFT JOIN tracks t ON t.id = p.track_id
ORDER BY r.ord, p.started_at, p.id

-- name: report_summary
-- Per station x track, then per track across the stations asked for (station
-- '(all stations)', times in %(across_tz)s); columns as reports/shape.py SUMMARY.
-- performances: each play's mean listeners (rounded) summed over the plays that have a
-- figure; tuning_hours: listener-hours over the plays (listeners.sql). NULL: no figure.
SELECT COALESCE(g.station, '(all stations)'), g.track_id, g.title, g.artist, g.isrc,
       g.plays, round(g.airtime_s::numeric, 3)::float8,
       to_char(g.first_at AT TIME ZONE z.tz, 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN o.f < interval '0' THEN '-' ELSE '+' END
         || to_char(CASE WHEN o.f < interval '0' THEN -o.f ELSE o.f END, 'HH24:MI'),
       to_char(g.last_at AT TIME ZONE z.tz, 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN o.l < interval '0' THEN '-' ELSE '+' END
         || to_char(CASE WHEN o.l < interval '0' THEN -o.l ELSE o.l END, 'HH24:MI'),
       g.performances,
       CASE WHEN g.performances IS NULL THEN NULL
            ELSE round((g.listener_s / 3600)::numeric, 3)::float8 END
FROM (
    SELECT sp.ord, sp.station, min(sp.tz) AS tz, sp.track_id, sp.title, sp.artist, sp.isrc,
           count(*) AS plays,
           sum(extract(epoch FROM sp.clip_end - sp.clip_start)) AS airtime_s,
           min(sp.clip_start) AS first_at,
           max(sp.started_at) AS last_at,
           sum(round(sp.mean))::bigint AS performances,
           sum(sp.listener_s) AS listener_s
    FROM airtrack_station_plays(%(ids)s::bigint[], %(names)s::text[], %(tzs)s::text[],
                                %(t0s)s::timestamptz[], %(t1s)s::timestamptz[],
                                ARRAY['fingerprint', 'backfill'], %(max_play_s)s,
                                %(hold_s)s) sp
    GROUP BY GROUPING SETS (
        (sp.ord, sp.station, sp.track_id, sp.title, sp.artist, sp.isrc),
        (sp.track_id, sp.title, sp.artist, sp.isrc))
) g
CROSS JOIN LATERAL (SELECT CASE WHEN g.station IS NULL THEN %(across_tz)s ELSE g.tz END AS tz) z
CROSS JOIN LATERAL (
    SELECT (g.first_at AT TIME ZONE z.tz) - (g.first_at AT TIME ZONE 'UTC') AS f,
           (g.last_at AT TIME ZONE z.tz) - (g.last_at AT TIME ZONE 'UTC') AS l
) o
ORDER BY g.ord NULLS LAST, g.plays DESC, g.track_id

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
-- The play log newest first, keyset-paged on (started_at, id). A removed track's play
-- shows the copy taken when it was stored (plays_track_snapshot).
SELECT p.id, p.stream_id, s.name AS stream, p.track_id,
       COALESCE(t.title, p.track_title) AS title, COALESCE(t.artist, p.track_artist) AS artist,
       COALESCE(t.source, p.track_source) AS source, COALESCE(t.isrc, p.track_isrc) AS isrc,
       p.started_at, p.ended_at, p.confidence, p.worker_id, p.source AS play_source
FROM plays p
JOIN streams s ON s.id = p.stream_id
LEFT JOIN tracks t ON t.id = p.track_id
WHERE (%(stream)s::text IS NULL OR s.name = %(stream)s)
  -- heard plays only, unless metadata-only ones are asked for (docs/metadata.md)
  AND (p.source IN ('fingerprint', 'backfill') OR %(with_metadata)s::boolean)
  AND (%(since)s::timestamptz IS NULL OR p.started_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR p.started_at < %(until)s)
  AND (%(track_id)s::bigint IS NULL OR p.track_id = %(track_id)s)
  AND (%(isrc)s::text IS NULL OR COALESCE(t.isrc, p.track_isrc) = %(isrc)s)
  AND (%(after_at)s::timestamptz IS NULL OR (p.started_at, p.id) < (%(after_at)s, %(after_id)s))
ORDER BY p.started_at DESC, p.id DESC
LIMIT %(limit)s

-- name: plays_stream_exists
SELECT EXISTS (SELECT 1 FROM streams WHERE name = %(name)s) AS found

-- name: plays_track_exists
SELECT EXISTS (SELECT 1 FROM tracks WHERE id = %(id)s) AS found

-- name: bench_fill_streams
-- bench/bench_reports.py: stations in a few zones.
INSERT INTO streams (name, url, timezone)
SELECT 'bench-' || lpad(i::text, 3, '0'), 'http://127.0.0.1:9/' || i,
       (ARRAY['Europe/Paris', 'America/New_York', 'UTC', 'Asia/Tokyo'])[1 + i %% 4]
FROM generate_series(1, %(n)s) AS i

-- name: bench_fill_tracks
INSERT INTO tracks (title, artist, source, duration_s, content_sha256, album, label, isrc,
                    iswc, composers)
SELECT 'Song ' || i, 'Artist ' || (i %% 97), 'bench.mp3', 200, md5('bench' || i),
       'Album ' || (i %% 31), 'Label ' || (i %% 7),
       'QZBEN' || lpad(i::text, 7, '0'), 'T-' || lpad(i::text, 9, '0') || '-0',
       ARRAY['Composer ' || (i %% 53), 'Composer ' || (i %% 59)]
FROM generate_series(1, %(n)s) AS i

-- name: bench_fill_plays
-- per_stream plays on every stream, evenly over span_s seconds from t0, 200 s each.
INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, ended_at, confidence,
                   worker_id, epoch)
SELECT 'bench-' || s.id || '-' || i, s.id,
       t.ids[1 + (i * 7 + s.id) %% array_length(t.ids, 1)],
       %(t0)s + make_interval(secs => i::float8 * %(span_s)s / %(per_stream)s),
       %(t0)s + make_interval(secs => i::float8 * %(span_s)s / %(per_stream)s + 200),
       0.9, 'bench', 1
FROM streams s
CROSS JOIN generate_series(0, %(per_stream)s - 1) AS i
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM tracks) t
WHERE s.name LIKE 'bench-%%'

-- name: report_soundexchange
-- SoundExchange's Report of Use (reports/soundexchange.py): one row per recording per
-- station over the range. performances: each play's mean listeners (rounded; listeners.sql)
-- summed over the plays that have a figure, NULL when none has; plays: how many airings.
-- Ordered in the C collation so the file is the same bytes on every server.
SELECT sp.station, sp.artist, sp.title, sp.isrc, sp.album, sp.label,
       count(*) AS plays,
       sum(round(sp.mean))::bigint AS performances
FROM airtrack_station_plays(%(ids)s::bigint[], %(names)s::text[], %(tzs)s::text[],
                            %(t0s)s::timestamptz[], %(t1s)s::timestamptz[],
                            ARRAY['fingerprint'], %(max_play_s)s, %(hold_s)s) sp
GROUP BY sp.ord, sp.station, sp.track_id, sp.artist, sp.title, sp.isrc, sp.album, sp.label
ORDER BY sp.ord, sp.artist COLLATE "C", sp.title COLLATE "C", sp.track_id