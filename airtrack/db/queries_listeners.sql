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
-- Samples past retention, a bounded batch per stream at a time (the leader runs it every
-- poll), on the primary key: an index on the time alone would tempt the planner away
-- from (stream_id, at) in the reports' per-play lookups.
DELETE FROM listener_samples
WHERE (stream_id, at) IN (
    SELECT o.stream_id, o.at
    FROM streams s
    CROSS JOIN LATERAL (
        SELECT x.stream_id, x.at FROM listener_samples x
        WHERE x.stream_id = s.id
          AND x.at < now() - make_interval(secs => %(days)s * 86400.0)
        ORDER BY x.at
        LIMIT %(limit)s) o)

-- name: listeners_samples
-- A stream's samples in a range (tests and diagnostics).
SELECT at, listeners FROM listener_samples
WHERE stream_id = %(id)s AND at >= %(t0)s AND at < %(t1)s
ORDER BY at
