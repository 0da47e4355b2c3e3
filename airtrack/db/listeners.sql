-- Listener figures from the samples the leader polls (orchestrator/listeners.py).
--
-- A sample holds from its time until the next sample of the stream, or for hold_s
-- (AIRTRACK_LISTENERS_HOLD_S) when no next sample comes sooner: a stats endpoint that
-- went quiet does not stretch its last figure over hours.
--
--   airtrack_play_listeners(stream, start, end, hold_s, sampled) -> (mean, listener_s)
--     listener_s  listener-seconds over [start, end) (the play's tuning time)
--     mean        listener_s / the seconds covered by samples: the time-weighted mean
--                 listener count over the play; for a play of no length, the sample in
--                 force at its start; NULL when no sample covers any of it
--     sampled     false skips the lookup (the caller knows the station has no sample
--                 in the report's range): one row (NULL, 0) at no cost
--
--   airtrack_station_plays(stations and their ranges, sources, max_play_s, hold_s)
--     the plays of each station that fall in its range [t0, t1), clipped to it, with
--     their listener figures: what the summary and SoundExchange reports aggregate
--
-- A one-row table function, one SELECT, STABLE and not STRICT, so that PostgreSQL
-- inlines it into the calling query as a LATERAL subquery (a plain SQL function call
-- costs an executor start per play: several times the rest of the report); "sampled"
-- then becomes a one-time filter above the index scan.
--
-- Applied by airtrack.db.migrations like ownership.sql (CREATE OR REPLACE only).

CREATE OR REPLACE FUNCTION airtrack_play_listeners(
    p_stream bigint, p_start timestamptz, p_end timestamptz, p_hold_s float8,
    p_sampled boolean)
RETURNS TABLE (mean float8, listener_s float8)
LANGUAGE sql STABLE AS $$
    SELECT CASE
             WHEN sum(c.s) > 0 THEN sum(c.listeners * c.s) / sum(c.s)
             -- at most one sample is in force at a time: intervals end at the next one
             ELSE max(c.listeners) FILTER (WHERE c.at <= p_start AND c.until > p_start)
           END::float8,
           COALESCE(sum(c.listeners * c.s), 0)::float8
    FROM (
        SELECT h.at, h.listeners, h.until,
               GREATEST(0, extract(epoch FROM LEAST(h.until, p_end)
                                              - GREATEST(h.at, p_start)))::float8 AS s
        FROM (
            SELECT x.at, x.listeners,
                   LEAST(lead(x.at) OVER (ORDER BY x.at),
                         x.at + make_interval(secs => p_hold_s)) AS until
            FROM listener_samples x
            WHERE p_sampled
              AND x.stream_id = p_stream
              AND x.at <= p_end
              AND x.at > p_start - make_interval(secs => p_hold_s)
        ) h
    ) c
$$;

-- Each station's plays of the given sources in its range [t0, t1) (a play that began up
-- to max_play_s before t0 counts for its part after t0), the track as the catalog has it
-- now (else as the play kept it), the clipped start and end, and the listener figures
-- over the clipped part. One SELECT, STABLE, not STRICT: inlined into the report's query.
CREATE OR REPLACE FUNCTION airtrack_station_plays(
    p_ids bigint[], p_names text[], p_tzs text[], p_t0s timestamptz[], p_t1s timestamptz[],
    p_sources text[], p_max_play_s float8, p_hold_s float8)
RETURNS TABLE (ord bigint, station text, tz text, track_id bigint, title text, artist text,
               isrc text, album text, label text, started_at timestamptz,
               clip_start timestamptz, clip_end timestamptz, mean float8, listener_s float8)
LANGUAGE sql STABLE AS $$
    SELECT r.ord, r.name, r.tz, p.track_id,
           COALESCE(t.title, p.track_title), COALESCE(t.artist, p.track_artist),
           COALESCE(t.isrc, p.track_isrc), t.album, t.label, p.started_at,
           GREATEST(p.started_at, r.t0), LEAST(COALESCE(p.ended_at, p.started_at), r.t1),
           lp.mean, lp.listener_s
    FROM unnest(p_ids, p_names, p_tzs, p_t0s, p_t1s)
         WITH ORDINALITY AS r(stream_id, name, tz, t0, t1, ord)
    JOIN plays p ON p.stream_id = r.stream_id
                AND p.source = ANY(p_sources)
                AND p.started_at < r.t1
                AND p.started_at > r.t0 - make_interval(secs => p_max_play_s)
                AND (p.started_at >= r.t0 OR p.ended_at > r.t0)
    LEFT JOIN tracks t ON t.id = p.track_id
    -- a station without samples in the range skips the per-play lookup altogether
    CROSS JOIN LATERAL (
        SELECT EXISTS (SELECT 1 FROM listener_samples x
                       WHERE x.stream_id = r.stream_id
                         AND x.at > r.t0 - make_interval(secs => p_hold_s)
                         AND x.at < r.t1) AS sampled) q
    CROSS JOIN LATERAL airtrack_play_listeners(
        p.stream_id, GREATEST(p.started_at, r.t0),
        LEAST(COALESCE(p.ended_at, p.started_at), r.t1), p_hold_s, q.sampled) lp
$$;
