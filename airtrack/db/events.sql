-- Events for integrations (webhooks, the event stream): written in the same transaction
-- as the change that caused them, delivered later from outbound_events.
--
--   airtrack_emit       the one writer of outbound_events; wakes listeners
--   airtrack_play_json  a play as integrations see it
--
-- Event types: play.started (first detection), play.ended (end known or corrected),
-- stream.down, stream.up, alert.raised, alert.resolved, catalog.changed.
--
-- Applied by airtrack.db.migrations like ownership.sql (CREATE OR REPLACE only).

CREATE OR REPLACE FUNCTION airtrack_emit(p_type text, p_stream bigint, p_data jsonb)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO outbound_events (type, stream_id, data) VALUES (p_type, p_stream, p_data)
    RETURNING id INTO v_id;
    PERFORM pg_notify('airtrack_events', v_id::text);
END
$fn$;

-- Play id, station, times (UTC and the station's zone), track fields with ISRC where
-- known, confidence and the worker that heard it.
CREATE OR REPLACE FUNCTION airtrack_play_json(p_play bigint)
RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object(
        'play_id', p.id,
        'stream_id', p.stream_id,
        'station', s.name,
        'timezone', s.timezone,
        'started_at', p.started_at,
        'ended_at', p.ended_at,
        'duration_s', EXTRACT(EPOCH FROM (p.ended_at - p.started_at)),
        'confidence', p.confidence,
        'worker', p.worker_id,
        'track', CASE
            WHEN t.id IS NOT NULL THEN jsonb_build_object(
                'track_id', t.id, 'title', t.title, 'artist', t.artist, 'album', t.album,
                'label', t.label, 'isrc', t.isrc, 'iswc', t.iswc,
                'composers', to_jsonb(t.composers), 'duration_s', t.duration_s)
            -- a removed track: the copy the play kept
            WHEN p.track_title IS NOT NULL OR p.track_source IS NOT NULL THEN
                jsonb_build_object('track_id', NULL, 'title', p.track_title,
                                   'artist', p.track_artist, 'isrc', p.track_isrc)
        END)
    FROM plays p
    JOIN streams s ON s.id = p.stream_id
    LEFT JOIN tracks t ON t.id = p.track_id
    WHERE p.id = p_play;
$fn$;
