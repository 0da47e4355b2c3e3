-- Proof clips and clip requests (functions in clips.sql).

-- name: clips_record
SELECT airtrack_record_clips(%(keys)s::text[], %(sids)s::bigint[], %(epochs)s::bigint[],
                             %(starts)s::timestamptz[], %(durations)s::real[],
                             %(play_keys)s::text[], %(request_ids)s::bigint[],
                             %(media_types)s::text[], %(datas)s::bytea[], %(worker)s,
                             %(per_hour)s) AS result

-- name: clips_maintain
SELECT airtrack_clips_maintain(%(keep_days)s, %(buffer_s)s, %(limit)s) AS result

-- name: clip_request_add
-- One request per stretch of a stream: asking again returns the same request (and gives
-- it the unknown if it had none).
INSERT INTO clip_requests (stream_id, start_at, end_at, unknown_id)
VALUES (%(sid)s, %(start)s, %(end)s, %(unknown_id)s)
ON CONFLICT (stream_id, start_at, end_at) DO UPDATE
    SET unknown_id = coalesce(clip_requests.unknown_id, EXCLUDED.unknown_id)
RETURNING id

-- name: clip_requests_pending
SELECT id, stream_id, start_at AS start, end_at AS "end" FROM clip_requests
WHERE state = 'pending'
ORDER BY id
LIMIT %(limit)s

-- name: clip_request_get
SELECT id, stream_id, start_at, end_at, unknown_id, state, requested_at, done_at
FROM clip_requests WHERE id = %(id)s

-- name: clip_of_play
-- The clip of a play: uploaded under one of the play's idempotency keys (the first
-- detection's, or one merged into it); the one nearest the play's start.
SELECT c.id, c.stream_id, c.started_at, c.duration_s, c.media_type, c.data
FROM clips c
WHERE c.play_key IN (SELECT idempotency_key FROM plays WHERE id = %(id)s
                     UNION ALL
                     SELECT idempotency_key FROM play_keys WHERE play_id = %(id)s)
ORDER BY c.started_at, c.id
LIMIT 1

-- name: clip_of_unknown
-- The newest clip of a recurring unknown's airings.
SELECT id, stream_id, started_at, duration_s, media_type, data
FROM clips
WHERE unknown_id = %(id)s
ORDER BY started_at DESC, id DESC
LIMIT 1

-- name: clips_stats
SELECT count(*) AS clips, coalesce(sum(octet_length(data)), 0) AS bytes FROM clips
