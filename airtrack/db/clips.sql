-- Proof clips' functions: the fenced write of clips and their retention. Caller:
-- airtrack/orchestrator/clips.py.
--
--   airtrack_record_clips    a batch of clips, fenced by airtrack_fence like plays, capped
--                            per stream per hour
--   airtrack_clips_maintain  expire clip requests the workers' buffers no longer hold;
--                            drop clips and requests older than the retention (the leader)
--
-- A clip's write is fenced by the one rule of ownership.sql (airtrack_fence): a worker
-- uploads clips only of the streams it owns, at its epochs. What the fence refuses is not
-- kept for review (the audio proves nothing the play log does not already hold).
--
-- Applied by airtrack.db.migrations like ownership.sql (CREATE OR REPLACE only).

-- A batch of clips, one call: fenced, then each clip the fence lets through is stored
-- once (its key: 'stored' or 'duplicate'), unless its stream already has p_per_hour clips
-- received in the last hour ('limited'); refused ones are 'stale'. A clip answering a
-- clip request of its stream takes the request's unknown and marks the request done.
CREATE OR REPLACE FUNCTION airtrack_record_clips(
    p_keys text[],
    p_sids bigint[],
    p_epochs bigint[],
    p_starts timestamptz[],
    p_durations real[],
    p_play_keys text[],
    p_request_ids bigint[],
    p_media_types text[],
    p_datas bytea[],
    p_worker text,
    p_per_hour integer
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    f record;
    v_request bigint;
    v_unknown bigint;
    v_recent integer;
BEGIN
    SELECT * INTO f FROM airtrack_fence_batch('clip', p_sids, p_epochs, p_worker);

    FOR r IN
        SELECT u.*
        FROM unnest(p_keys, p_sids, p_epochs, p_starts, p_durations, p_play_keys,
                    p_request_ids, p_media_types, p_datas)
             WITH ORDINALITY AS u(key, sid, epoch, started, dur, play_key, request_id,
                                  media_type, data, ord)
        ORDER BY u.sid, u.started, u.ord
    LOOP
        CONTINUE WHEN f.writers[r.ord] IS NULL;  -- 'stale' (the fence's answer)
        IF EXISTS (SELECT 1 FROM clips WHERE idempotency_key = r.key) THEN
            f.statuses[r.ord] := 'duplicate';
            CONTINUE;
        END IF;
        SELECT count(*) INTO v_recent FROM clips
        WHERE stream_id = r.sid AND received_at > now() - interval '1 hour';
        IF v_recent >= p_per_hour THEN
            f.statuses[r.ord] := 'limited';
            CONTINUE;
        END IF;
        v_request := NULL;
        v_unknown := NULL;
        IF r.request_id IS NOT NULL THEN
            SELECT q.id, q.unknown_id INTO v_request, v_unknown
            FROM clip_requests q WHERE q.id = r.request_id AND q.stream_id = r.sid;
        END IF;
        INSERT INTO clips (idempotency_key, stream_id, epoch, worker_id, play_key,
                           request_id, unknown_id, started_at, duration_s, media_type, data)
        VALUES (r.key, r.sid, r.epoch, f.writers[r.ord], r.play_key, v_request, v_unknown,
                r.started, r.dur, r.media_type, r.data)
        ON CONFLICT (idempotency_key) DO NOTHING;
        f.statuses[r.ord] := CASE WHEN FOUND THEN 'stored' ELSE 'duplicate' END;
        IF FOUND AND v_request IS NOT NULL THEN
            UPDATE clip_requests SET state = 'done', done_at = now()
            WHERE id = v_request AND state <> 'done';
        END IF;
    END LOOP;
    RETURN jsonb_build_object('statuses', to_jsonb(f.statuses), 'kept', 0);
END
$fn$;

-- Pending requests whose end is more than p_buffer_s ago are expired (no worker still
-- holds that audio); clips started, and requests made, more than p_keep_days ago are
-- deleted, at most p_limit of each per call. Result: {"expired", "clips", "requests"}.
CREATE OR REPLACE FUNCTION airtrack_clips_maintain(
    p_keep_days integer, p_buffer_s double precision, p_limit integer
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_expired integer;
    v_clips integer;
    v_requests integer;
BEGIN
    UPDATE clip_requests SET state = 'expired', done_at = now()
    WHERE state = 'pending' AND end_at < now() - make_interval(secs => p_buffer_s);
    GET DIAGNOSTICS v_expired = ROW_COUNT;
    DELETE FROM clips WHERE id IN (
        SELECT id FROM clips
        WHERE started_at < now() - make_interval(days => p_keep_days)
        ORDER BY started_at LIMIT p_limit);
    GET DIAGNOSTICS v_clips = ROW_COUNT;
    DELETE FROM clip_requests WHERE id IN (
        SELECT id FROM clip_requests
        WHERE requested_at < now() - make_interval(days => p_keep_days) AND state <> 'pending'
        ORDER BY id LIMIT p_limit);
    GET DIAGNOSTICS v_requests = ROW_COUNT;
    RETURN jsonb_build_object('expired', v_expired, 'clips', v_clips, 'requests', v_requests);
END
$fn$;
