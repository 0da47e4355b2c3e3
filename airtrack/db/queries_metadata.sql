-- Named queries of the metadata cross-check (docs/metadata.md): stream titles against heard plays.

-- name: metadata_titles
-- Each title with the next one on its stream (where it stops holding). Titles from up to
-- max_s before the range are read too: the one in force when the range starts.
SELECT t.stream_id, s.name AS stream, t.at, t.title,
       lead(t.at) OVER (PARTITION BY t.stream_id ORDER BY t.at, t.id) AS next_at
FROM stream_titles t
JOIN streams s ON s.id = t.stream_id
WHERE (%(stream)s::text IS NULL OR s.name = %(stream)s)
  AND t.at < %(t1)s
  AND t.at >= %(t0)s::timestamptz - make_interval(secs => %(max_s)s)
ORDER BY t.stream_id, t.at, t.id

-- name: metadata_heard_plays
-- Fingerprint plays overlapping the range; an open play lasts at most its song.
SELECT p.id, p.stream_id, s.name AS stream, p.started_at,
       COALESCE(p.ended_at,
                p.started_at + make_interval(secs => COALESCE(t.duration_s, %(max_s)s)))
           AS ended_at,
       COALESCE(t.title, p.track_title) AS title,
       COALESCE(t.artist, p.track_artist) AS artist
FROM plays p
JOIN streams s ON s.id = p.stream_id
LEFT JOIN tracks t ON t.id = p.track_id
WHERE p.source = 'fingerprint'
  AND (%(stream)s::text IS NULL OR s.name = %(stream)s)
  AND p.started_at < %(t1)s
  AND COALESCE(p.ended_at, p.started_at) >= %(t0)s::timestamptz - make_interval(secs => %(max_s)s)
ORDER BY p.stream_id, p.started_at, p.id
