-- Listener figures from the samples the leader polls (orchestrator/listeners.py).
--
-- A sample holds from its time until the next sample of the stream, or for hold_s
-- (AIRTRACK_LISTENERS_HOLD_S) when no next sample comes sooner: a stats endpoint that
-- went quiet does not stretch its last figure over hours.
--
--   airtrack_play_listeners(stream, start, end, hold_s) -> (mean, listener_s)
--     listener_s  listener-seconds over [start, end) (the play's tuning time)
--     mean        listener_s / the seconds covered by samples: the time-weighted mean
--                 listener count over the play; for a play of no length, the sample in
--                 force at its start; NULL when no sample covers any of it
--
-- Applied by airtrack.db.migrations like ownership.sql (CREATE OR REPLACE only).

CREATE OR REPLACE FUNCTION airtrack_play_listeners(
    p_stream bigint, p_start timestamptz, p_end timestamptz, p_hold_s float8,
    OUT mean float8, OUT listener_s float8)
LANGUAGE sql STABLE AS $$
    WITH held AS (
        SELECT x.at, x.listeners,
               LEAST(lead(x.at) OVER (ORDER BY x.at),
                     x.at + make_interval(secs => p_hold_s)) AS until
        FROM listener_samples x
        WHERE x.stream_id = p_stream
          AND x.at <= p_end
          AND x.at > p_start - make_interval(secs => p_hold_s)
    ), cut AS (
        SELECT h.listeners, h.at, h.until,
               GREATEST(0, extract(epoch FROM LEAST(h.until, p_end)
                                              - GREATEST(h.at, p_start)))::float8 AS s
        FROM held h
    )
    SELECT CASE
             WHEN sum(c.s) > 0 THEN sum(c.listeners * c.s) / sum(c.s)
             ELSE (SELECT c2.listeners::float8 FROM cut c2
                   WHERE c2.at <= p_start AND c2.until > p_start
                   ORDER BY c2.at DESC LIMIT 1)
           END,
           COALESCE(sum(c.listeners * c.s), 0)::float8
    FROM cut c
$$;
