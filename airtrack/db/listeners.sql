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
