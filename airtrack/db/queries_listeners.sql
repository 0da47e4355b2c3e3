-- Listener figures: what the leader polls and the samples it keeps
-- (orchestrator/listeners.py, listeners.sql).

-- name: listeners_targets
-- Every enabled stream with a statistics endpoint, and the URLs its source may carry.
SELECT id, name, url, backup_urls, stats_url
FROM streams
WHERE stats_url IS NOT NULL AND enabled
ORDER BY id

-- name: listeners_insert
INSERT INTO listener_samples (stream_id, at, listeners)
SELECT * FROM unnest(%(ids)s::bigint[], %(ats)s::timestamptz[], %(counts)s::integer[])
ON CONFLICT (stream_id, at) DO NOTHING

-- name: listeners_prune
-- Samples past retention, a bounded batch at a time (the leader runs it every poll).
DELETE FROM listener_samples
WHERE (stream_id, at) IN (
    SELECT stream_id, at FROM listener_samples
    WHERE at < now() - make_interval(secs => %(days)s * 86400.0)
    ORDER BY at
    LIMIT %(limit)s)

-- name: listeners_samples
-- A stream's samples in a range (tests and diagnostics).
SELECT at, listeners FROM listener_samples
WHERE stream_id = %(id)s AND at >= %(t0)s AND at < %(t1)s
ORDER BY at
