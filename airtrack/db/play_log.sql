-- The play log: how reported plays and stream titles become airings, in one file.
--
-- Who may write is not decided here: every batch is fenced first by airtrack_fence
-- (ownership.sql), and only what the fence lets through is logged. What it refuses is
-- kept for review (refused_plays), never dropped.
--
--   airtrack_play_track_snapshot  trigger: a play keeps the song it aired
--   airtrack_track_removed  trigger: a removed track's copy (its plays keep its id)
--   airtrack_same_airing    a stored play and a new report of its track: one airing?
--   airtrack_merged_end     the end of an airing reported again under another key
--   airtrack_log_play       one reported play: merge into its airing, close the airing
--                           before it, emit play.started / play.ended
--   airtrack_log_title      one stream title: store it, open or end metadata plays
--   airtrack_record_plays   a batch of plays: fence, then log or refuse each
--   airtrack_record_titles  a batch of titles: the same
--   airtrack_refuse         keep what the fence refused (bounded), for review
--   airtrack_refuse_stale   the same for a batch, given airtrack_fence_batch's answer
--   airtrack_accept_refused an operator's accept: log a refused item as its writer sent it,
--                           through airtrack_log_play / airtrack_log_title; the stream's
--                           ownership is not touched
--   airtrack_discard_refused an operator's discard: gone, with a copy in the audit log
--
-- A refused item is one row per (kind, idempotency key): the same item refused again
-- (an outbox retry, the end of an open play) replaces the copy kept.
--
-- Lock order: assignments (airtrack_fence, by stream_id) -> plays -> refused_plays.
--
-- Applied by airtrack.db.migrations after ownership.sql (CREATE OR REPLACE only: a change
-- of signature needs a numbered migration that drops the old function first).

-- ------------------------------------------------------------------ plays
-- A play keeps the song it aired: a copy of the track's title, artist, source and ISRC
-- taken when it is stored (whoever stores it). A NULL track_id (an unknown id, or the
-- track's removal setting it NULL) keeps the copy taken before, and the removal keeps the
-- track's id in removed_track_id; a play of a removed track stored after the removal
-- (removed_track_id) copies what the removal kept.
CREATE OR REPLACE FUNCTION airtrack_play_track_snapshot() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.track_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.track_id IS DISTINCT FROM OLD.track_id) THEN
        SELECT t.title, t.artist, t.source, t.isrc
        INTO NEW.track_title, NEW.track_artist, NEW.track_source, NEW.track_isrc
        FROM tracks t WHERE t.id = NEW.track_id;
    ELSIF TG_OP = 'INSERT' AND NEW.track_id IS NULL AND NEW.removed_track_id IS NOT NULL THEN
        SELECT r.title, r.artist, r.source, r.isrc
        INTO NEW.track_title, NEW.track_artist, NEW.track_source, NEW.track_isrc
        FROM removed_tracks r WHERE r.id = NEW.removed_track_id;
    ELSIF TG_OP = 'UPDATE' AND NEW.track_id IS NULL AND OLD.track_id IS NOT NULL
          AND NOT EXISTS (SELECT FROM tracks t WHERE t.id = OLD.track_id) THEN
        -- the track's removal (the foreign key's ON DELETE SET NULL, which sees every
        -- committed play, one stored while the removal waited too): keep which track
        NEW.removed_track_id := OLD.track_id;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER plays_track_snapshot
BEFORE INSERT OR UPDATE OF track_id ON plays
FOR EACH ROW EXECUTE FUNCTION airtrack_play_track_snapshot();

-- A track's removal keeps a copy of it (removed_tracks: what a play of it reported later
-- copies, and when it went), whichever path deletes it.  Its plays keep its id through
-- airtrack_play_track_snapshot when the foreign key sets their track_id NULL.
CREATE OR REPLACE FUNCTION airtrack_track_removed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO removed_tracks (id, title, artist, source, isrc, duration_s)
    VALUES (OLD.id, OLD.title, OLD.artist, OLD.source, OLD.isrc, OLD.duration_s)
    ON CONFLICT (id) DO UPDATE
    SET title = EXCLUDED.title, artist = EXCLUDED.artist, source = EXCLUDED.source,
        isrc = EXCLUDED.isrc, duration_s = EXCLUDED.duration_s, removed_at = now();
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER tracks_removed
AFTER DELETE ON tracks
FOR EACH ROW EXECUTE FUNCTION airtrack_track_removed();

-- The end of an airing when a report of it comes from another key (another owner
-- after a handoff, a restart): the later of the stored and the reported end, unless
-- the report runs into the next airing on the stream by more than a crossfade
-- (p_overlap_s): then that owner dated the tail it heard late (a server's burst on
-- connect), and the stored end stands.
CREATE OR REPLACE FUNCTION airtrack_merged_end(
    p_play bigint, p_stored timestamptz, p_reported timestamptz, p_overlap_s double precision
) RETURNS timestamptz
LANGUAGE sql STABLE AS $fn$
    SELECT CASE
        WHEN p_reported IS NULL THEN p_stored
        WHEN n.next_start IS NOT NULL
             AND p_reported > n.next_start + make_interval(secs => p_overlap_s)
            THEN coalesce(p_stored, n.next_start)
        ELSE GREATEST(coalesce(p_stored, p_reported), p_reported)
    END
    FROM (SELECT min(q.started_at) AS next_start
          FROM plays p JOIN plays q ON q.stream_id = p.stream_id
          WHERE p.id = p_play AND q.started_at > p.started_at AND q.id <> p.id
            AND coalesce(q.track_id, q.removed_track_id)
                IS DISTINCT FROM coalesce(p.track_id, p.removed_track_id)
            AND q.source = 'fingerprint') n;
$fn$;

-- Whether a stored play of a track on a stream (its start, end, song origin, writer and
-- epoch; its song lasts p_song_s) and a new report of that track on that stream are one
-- airing: the rule airtrack_log_play describes below.
CREATE OR REPLACE FUNCTION airtrack_same_airing(
    s_start timestamptz, s_end timestamptz, s_origin timestamptz, s_writer text,
    s_epoch bigint, p_song_s double precision, p_started timestamptz, p_ended timestamptz,
    p_origin timestamptz, p_writer text, p_epoch bigint, p_gap_s double precision,
    p_align_s double precision
) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT ((s_start <= coalesce(p_ended, p_started) + make_interval(secs => p_gap_s)
             AND coalesce(s_end, s_start + make_interval(secs => p_song_s))
                 >= p_started - make_interval(secs => p_gap_s))
            -- further apart, the same airing by its song origin (a handoff or a
            -- reconnect that took longer than p_gap_s), both reports inside the song
            OR (s_origin IS NOT NULL AND p_origin IS NOT NULL
                AND abs(EXTRACT(EPOCH FROM (s_origin - p_origin))) <= p_align_s
                AND p_started < s_origin + make_interval(secs => p_song_s)
                AND s_start < p_origin + make_interval(secs => p_song_s)))
       AND NOT (s_end IS NOT NULL AND p_started >= s_end
                AND s_writer IS NOT DISTINCT FROM p_writer AND s_epoch = p_epoch
                AND abs(EXTRACT(EPOCH FROM (s_origin - p_origin))) > p_align_s)
$fn$;

-- One reported play, written by p_writer (the fence's answer, or the writer of a refused
-- play an operator accepted): 'stored' or 'duplicate'.
--
-- One airing is one play: the same track on the same stream reported again within
-- p_gap_s of an existing play (a handoff, a restart) is merged into it, its end set by
-- airtrack_merged_end — unless the report is another airing: the same pipeline (writer
-- and epoch) that logged the stored play reports one that starts where it ended or later,
-- with a song origin (where the song's beginning falls on the stream's clock) more than
-- p_align_s away (a back-to-back repeat, a DJ's rewind). After a restart or a handoff the
-- new owner may only hear a tail too short to place it exactly: that stays one airing. A
-- play still open counts as lasting at most its song's length.  Reports further apart
-- than p_gap_s are one airing too when their song origins agree within p_align_s and
-- both start inside the song: a handoff (the new owner hears of the stream a heartbeat or
-- two later) or a reconnect after a stall often takes longer than p_gap_s.
-- The confidence of a play is the highest that any report of it carried.
-- Integrations hear of it (events.sql): play.started when a play is first stored,
-- play.ended whenever its end becomes known or changes.
CREATE OR REPLACE FUNCTION airtrack_log_play(
    p_key text, p_sid bigint, p_epoch bigint, p_track bigint, p_started timestamptz,
    p_ended timestamptz, p_conf double precision, p_origin timestamptz, p_writer text,
    p_gap_s double precision, p_overlap_s double precision, p_align_s double precision
) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_play record;
    v_id bigint;
    v_end timestamptz;
    v_closed bigint;
    v_new_alias boolean := false;
BEGIN
    -- The same report again (an outbox retry), or its end arriving: the end its own key
    -- reports is the end.
    SELECT p.id, p.ended_at, p.confidence INTO v_play
    FROM plays p WHERE p.idempotency_key = p_key;
    IF FOUND THEN
        IF (p_ended IS NOT NULL AND v_play.ended_at IS DISTINCT FROM p_ended)
           OR p_conf > v_play.confidence THEN
            UPDATE plays
            SET ended_at = coalesce(p_ended, ended_at),
                confidence = GREATEST(confidence, p_conf)
            WHERE id = v_play.id;
            IF p_ended IS NOT NULL AND v_play.ended_at IS DISTINCT FROM p_ended THEN
                PERFORM airtrack_emit('play.ended', p_sid, airtrack_play_json(v_play.id));
            END IF;
            RETURN 'stored';
        END IF;
        RETURN 'duplicate';
    END IF;

    -- A key already merged into another airing, or a new continuation of one.
    SELECT p.id, p.ended_at, p.confidence INTO v_play
    FROM play_keys k JOIN plays p ON p.id = k.play_id WHERE k.idempotency_key = p_key;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM tracks WHERE id = p_track) THEN
            SELECT p.id, p.ended_at, p.confidence INTO v_play
            FROM plays p LEFT JOIN tracks t ON t.id = p.track_id
            WHERE p.stream_id = p_sid AND p.track_id = p_track
              AND airtrack_same_airing(p.started_at, p.ended_at, p.song_origin, p.worker_id,
                                       p.epoch, coalesce(t.duration_s, 600), p_started,
                                       p_ended, p_origin, p_writer, p_epoch, p_gap_s,
                                       p_align_s)
            ORDER BY p.started_at DESC
            LIMIT 1;
        ELSE  -- a removed track: its airings name it in removed_track_id
            SELECT p.id, p.ended_at, p.confidence INTO v_play
            FROM plays p LEFT JOIN removed_tracks r ON r.id = p.removed_track_id
            WHERE p.stream_id = p_sid AND p.removed_track_id = p_track
              AND airtrack_same_airing(p.started_at, p.ended_at, p.song_origin, p.worker_id,
                                       p.epoch, coalesce(r.duration_s, 600), p_started,
                                       p_ended, p_origin, p_writer, p_epoch, p_gap_s,
                                       p_align_s)
            ORDER BY p.started_at DESC
            LIMIT 1;
        END IF;
        IF FOUND THEN
            INSERT INTO play_keys (idempotency_key, play_id) VALUES (p_key, v_play.id)
            ON CONFLICT DO NOTHING;
            v_new_alias := true;
        END IF;
    END IF;
    IF v_play.id IS NOT NULL THEN
        v_end := airtrack_merged_end(v_play.id, v_play.ended_at, p_ended, p_overlap_s);
        UPDATE plays
        SET started_at = LEAST(started_at, p_started),
            ended_at = v_end,
            confidence = GREATEST(confidence, p_conf),
            song_origin = coalesce(song_origin, p_origin)
        WHERE id = v_play.id
          AND (started_at > p_started OR ended_at IS DISTINCT FROM v_end
               OR confidence < p_conf);
        IF v_end IS NOT NULL AND v_end IS DISTINCT FROM v_play.ended_at THEN
            PERFORM airtrack_emit('play.ended', p_sid, airtrack_play_json(v_play.id));
        END IF;
        RETURN CASE WHEN FOUND OR v_new_alias THEN 'stored' ELSE 'duplicate' END;
    END IF;

    -- a track removed since is named by removed_track_id, and the play copies what the
    -- removal kept (the caller let it through: check_plays, for an airing that began
    -- before the removal, or an operator's accept)
    INSERT INTO plays (idempotency_key, stream_id, track_id, removed_track_id, started_at,
                       ended_at, confidence, worker_id, epoch, song_origin)
    VALUES (p_key, p_sid, (SELECT id FROM tracks WHERE id = p_track),
            (SELECT r.id FROM removed_tracks r
             WHERE r.id = p_track AND NOT EXISTS (SELECT FROM tracks WHERE id = p_track)),
            p_started, p_ended, p_conf, p_writer, p_epoch, p_origin)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN 'duplicate';
    END IF;
    -- An open play whose end was never reported (its worker died) ends when the next
    -- airing on the same stream starts, but never later than its song could last.
    FOR v_closed IN
        UPDATE plays p
        SET ended_at = LEAST(p_started,
                             p.started_at + make_interval(
                                 secs => coalesce(t.duration_s, r.duration_s, 1e6)))
        FROM plays q LEFT JOIN tracks t ON t.id = q.track_id
             LEFT JOIN removed_tracks r ON r.id = q.removed_track_id
        WHERE q.id = p.id AND p.stream_id = p_sid AND p.ended_at IS NULL
          AND p.source = 'fingerprint'  -- a station's title ends with its next title
          AND p.started_at < p_started AND p.id <> v_id
        RETURNING p.id
    LOOP
        PERFORM airtrack_emit('play.ended', p_sid, airtrack_play_json(v_closed));
    END LOOP;
    PERFORM airtrack_emit('play.started', p_sid, airtrack_play_json(v_id));
    IF p_ended IS NOT NULL THEN
        PERFORM airtrack_emit('play.ended', p_sid, airtrack_play_json(v_id));
    END IF;
    RETURN 'stored';
END
$fn$;

-- ------------------------------------------------------------------ stream titles
-- One in-band title (ICY StreamTitle) written by p_writer: 'stored' or 'duplicate'.
-- A title holds until the stream's next one. One naming a song (the caller splits
-- "Artist - Title" into p_artist/p_song; NULL when it names none) is also a play of
-- source 'metadata', open until the next different title ends it (never longer than
-- p_max_s): a reconnect that re-reports the same title keeps it open.
CREATE OR REPLACE FUNCTION airtrack_log_title(
    p_key text, p_sid bigint, p_epoch bigint, p_at timestamptz, p_title text, p_url text,
    p_encoding text, p_artist text, p_song text, p_writer text, p_max_s double precision
) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_id bigint;
    v_open record;
BEGIN
    INSERT INTO stream_titles (idempotency_key, stream_id, at, title, url, encoding,
                               worker_id, epoch)
    VALUES (p_key, p_sid, p_at, p_title, p_url, coalesce(p_encoding, 'utf-8'), p_writer,
            p_epoch)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN 'duplicate';
    END IF;

    SELECT p.id, p.track_artist, p.track_title INTO v_open
    FROM plays p
    WHERE p.stream_id = p_sid AND p.source = 'metadata' AND p.ended_at IS NULL
      AND p.started_at <= p_at
    ORDER BY p.started_at DESC LIMIT 1;
    IF FOUND AND p_song IS NOT NULL AND v_open.track_title IS NOT DISTINCT FROM p_song
       AND v_open.track_artist IS NOT DISTINCT FROM p_artist THEN
        RETURN 'stored';  -- the same song again (a reconnect): the airing goes on
    END IF;
    UPDATE plays
    SET ended_at = LEAST(p_at, started_at + make_interval(secs => p_max_s))
    WHERE stream_id = p_sid AND source = 'metadata' AND ended_at IS NULL
      AND started_at <= p_at;
    IF p_song IS NOT NULL THEN
        INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, ended_at,
                           confidence, worker_id, epoch, track_title, track_artist, source)
        VALUES ('title:' || p_key, p_sid, NULL, p_at, NULL, 0, p_writer, p_epoch,
                p_song, p_artist, 'metadata')
        ON CONFLICT (idempotency_key) DO NOTHING;
    END IF;
    RETURN 'stored';
END
$fn$;

-- ------------------------------------------------------------------ back-fill
-- A play found later in the fingerprint archive (a track registered after it aired):
-- 'stored', or 'duplicate' when any play of the track on the stream (heard, back-filled,
-- or still open) overlaps it by more than p_slack_s, so a re-run or a heard airing
-- changes nothing (two airings a short gap apart are two). Source 'backfill'; play.started and play.ended say so (airtrack_play_json).
CREATE OR REPLACE FUNCTION airtrack_backfill_play(
    p_sid bigint, p_track bigint, p_started timestamptz, p_ended timestamptz,
    p_conf double precision, p_origin timestamptz, p_slack_s double precision
) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_id bigint;
    v_slack interval := make_interval(secs => p_slack_s);
BEGIN
    PERFORM 1 FROM streams WHERE id = p_sid FOR SHARE;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('backfill:' || p_sid || ':' || p_track, 0));
    IF EXISTS (
        SELECT 1 FROM plays p
        WHERE p.stream_id = p_sid AND p.track_id = p_track
          AND p.started_at < greatest(p_ended - v_slack, p_started)
          AND coalesce(p.ended_at, 'infinity'::timestamptz)
              > least(p_started + v_slack, p_ended)
    ) THEN
        RETURN 'duplicate';
    END IF;
    INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, ended_at,
                       confidence, worker_id, epoch, song_origin, source)
    VALUES ('backfill:' || p_sid || ':' || p_track || ':'
                || floor(EXTRACT(EPOCH FROM p_started))::bigint,
            p_sid, p_track, p_started, p_ended, p_conf, NULL, 0, p_origin, 'backfill')
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN 'duplicate';
    END IF;
    PERFORM airtrack_emit('play.started', p_sid, airtrack_play_json(v_id));
    PERFORM airtrack_emit('play.ended', p_sid, airtrack_play_json(v_id));
    RETURN 'stored';
END
$fn$;

-- ------------------------------------------------------------------ refused
-- Keep what the fence refused: one row per (kind, key), the newest copy of the item.
-- At most p_max rows are kept (a hostile sender cannot fill the database); returns how
-- many of the items were kept. The caller logs the rest.
CREATE OR REPLACE FUNCTION airtrack_refuse(
    p_kind text, p_worker text, p_keys text[], p_sids bigint[], p_epochs bigint[],
    p_reasons text[], p_items jsonb[], p_max bigint
) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    v_room bigint;
    v_kept integer := 0;
    r record;
BEGIN
    SELECT p_max - count(*) INTO v_room FROM refused_plays;
    FOR r IN
        SELECT * FROM unnest(p_keys, p_sids, p_epochs, p_reasons, p_items)
                      AS u(key, sid, epoch, reason, item)
        ORDER BY u.sid, u.key
    LOOP
        UPDATE refused_plays
        SET item = r.item, reason = r.reason, epoch = r.epoch, worker_id = p_worker,
            refused_at = now(), times = times + 1
        WHERE kind = p_kind AND idempotency_key = r.key;
        IF FOUND THEN
            v_kept := v_kept + 1;
        ELSIF v_room > 0 THEN
            INSERT INTO refused_plays (kind, idempotency_key, stream_id, epoch, worker_id,
                                       reason, item)
            VALUES (p_kind, r.key, r.sid, r.epoch, p_worker, r.reason, r.item)
            ON CONFLICT (kind, idempotency_key) DO NOTHING;
            v_room := v_room - 1;
            v_kept := v_kept + 1;
        END IF;
    END LOOP;
    RETURN v_kept;
END
$fn$;

-- Keep the items a batch's fence refused (airtrack_fence_batch): their keys, streams,
-- epochs and reasons picked at the refused positions, with p_items (one body per refused
-- item, in that order). How many were kept; 0 when the fence refused none.
CREATE OR REPLACE FUNCTION airtrack_refuse_stale(
    p_kind text, p_worker text, p_stale integer[], p_keys text[], p_sids bigint[],
    p_epochs bigint[], p_reasons text[], p_items jsonb[], p_max bigint
) RETURNS integer
LANGUAGE sql AS $fn$
    SELECT CASE
        WHEN cardinality(p_stale) = 0 THEN 0
        ELSE airtrack_refuse(
            p_kind, p_worker,
            ARRAY(SELECT p_keys[i] FROM unnest(p_stale) i),
            ARRAY(SELECT p_sids[i] FROM unnest(p_stale) i),
            ARRAY(SELECT p_epochs[i] FROM unnest(p_stale) i),
            ARRAY(SELECT p_reasons[i] FROM unnest(p_stale) i),
            p_items, p_max)
    END
$fn$;

-- ------------------------------------------------------------------ batches
-- A batch of plays, one call: fenced (airtrack_fence, ownership.sql), then each play the
-- fence lets through is logged (airtrack_log_play) and each it refuses is kept
-- (airtrack_refuse). Statuses come back in the order given: 'stored', 'duplicate' or
-- 'stale'. Result: {"statuses": [...], "kept": refused items kept for review}.
CREATE OR REPLACE FUNCTION airtrack_record_plays(
    p_keys text[],
    p_sids bigint[],
    p_epochs bigint[],
    p_tracks bigint[],
    p_starts timestamptz[],
    p_ends timestamptz[],
    p_confidences double precision[],
    p_origins timestamptz[],
    p_gap_s double precision,
    p_overlap_s double precision,
    p_align_s double precision,
    p_worker text,
    p_refused_max bigint
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    f record;
BEGIN
    SELECT * INTO f FROM airtrack_fence_batch('play', p_sids, p_epochs, p_worker);

    FOR r IN
        SELECT u.*
        FROM unnest(p_keys, p_sids, p_epochs, p_tracks, p_starts, p_ends, p_confidences,
                    p_origins)
             WITH ORDINALITY AS u(key, sid, epoch, track, started, ended, conf, origin, ord)
        ORDER BY u.sid, u.started, u.ord
    LOOP
        CONTINUE WHEN f.writers[r.ord] IS NULL;
        f.statuses[r.ord] := airtrack_log_play(r.key, r.sid, r.epoch, r.track, r.started,
                                               r.ended, r.conf, r.origin, f.writers[r.ord],
                                               p_gap_s, p_overlap_s, p_align_s);
    END LOOP;

    RETURN jsonb_build_object('statuses', to_jsonb(f.statuses), 'kept', airtrack_refuse_stale(
        'play', p_worker, f.stale, p_keys, p_sids, p_epochs, f.reasons,
        ARRAY(SELECT jsonb_build_object(
                  'key', p_keys[i], 'stream_id', p_sids[i], 'epoch', p_epochs[i],
                  'track_id', p_tracks[i], 'started_at', p_starts[i],
                  'ended_at', p_ends[i], 'confidence', p_confidences[i],
                  'song_origin', p_origins[i])
              FROM unnest(f.stale) i),
        p_refused_max));
END
$fn$;

-- A batch of in-band titles, fenced and logged like plays (airtrack_log_title). The
-- caller splits "Artist - Title" into p_artists/p_songs.
CREATE OR REPLACE FUNCTION airtrack_record_titles(
    p_keys text[],
    p_sids bigint[],
    p_epochs bigint[],
    p_ats timestamptz[],
    p_titles text[],
    p_urls text[],
    p_encodings text[],
    p_artists text[],
    p_songs text[],
    p_max_s double precision,
    p_worker text,
    p_refused_max bigint
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    f record;
BEGIN
    SELECT * INTO f FROM airtrack_fence_batch('title', p_sids, p_epochs, p_worker);

    FOR r IN
        SELECT u.*
        FROM unnest(p_keys, p_sids, p_epochs, p_ats, p_titles, p_urls, p_encodings,
                    p_artists, p_songs)
             WITH ORDINALITY AS u(key, sid, epoch, at, title, url, enc, artist, song, ord)
        ORDER BY u.sid, u.at, u.ord
    LOOP
        CONTINUE WHEN f.writers[r.ord] IS NULL;
        f.statuses[r.ord] := airtrack_log_title(r.key, r.sid, r.epoch, r.at, r.title, r.url,
                                                r.enc, r.artist, r.song, f.writers[r.ord],
                                                p_max_s);
    END LOOP;

    RETURN jsonb_build_object('statuses', to_jsonb(f.statuses), 'kept', airtrack_refuse_stale(
        'title', p_worker, f.stale, p_keys, p_sids, p_epochs, f.reasons,
        ARRAY(SELECT jsonb_build_object(
                  'key', p_keys[i], 'stream_id', p_sids[i], 'epoch', p_epochs[i],
                  'at', p_ats[i], 'title', p_titles[i], 'url', p_urls[i],
                  'encoding', p_encodings[i], 'artist', p_artists[i],
                  'song', p_songs[i])
              FROM unnest(f.stale) i),
        p_refused_max));
END
$fn$;

-- ------------------------------------------------------------------ review
-- An operator accepts refused items: each is logged as its writer sent it (its worker and
-- epoch kept on the play), through the same path as a fenced write, and leaves the
-- refused list. Who owns the stream now does not change. Outcome per id: 'stored',
-- 'duplicate', 'unknown_stream' (the stream was removed: the item stays) or 'missing'.
CREATE OR REPLACE FUNCTION airtrack_accept_refused(
    p_ids bigint[], p_gap_s double precision, p_overlap_s double precision,
    p_align_s double precision, p_max_s double precision
) RETURNS TABLE (id bigint, outcome text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    r record;
    v_item jsonb;
    v_outcome text;
BEGIN
    FOR r IN
        SELECT u.id AS wanted, x.*
        FROM unnest(p_ids) AS u(id)
        LEFT JOIN refused_plays x ON x.id = u.id
        ORDER BY x.stream_id, x.refused_at, u.id
    LOOP
        v_item := r.item;
        IF r.id IS NULL THEN
            v_outcome := 'missing';
        ELSIF NOT EXISTS (SELECT 1 FROM streams s WHERE s.id = r.stream_id) THEN
            v_outcome := 'unknown_stream';
        ELSIF r.kind = 'play' THEN
            v_outcome := airtrack_log_play(
                r.idempotency_key, r.stream_id, r.epoch, (v_item->>'track_id')::bigint,
                (v_item->>'started_at')::timestamptz, (v_item->>'ended_at')::timestamptz,
                (v_item->>'confidence')::double precision,
                (v_item->>'song_origin')::timestamptz, r.worker_id,
                p_gap_s, p_overlap_s, p_align_s);
        ELSE
            v_outcome := airtrack_log_title(
                r.idempotency_key, r.stream_id, r.epoch, (v_item->>'at')::timestamptz,
                v_item->>'title', v_item->>'url', v_item->>'encoding', v_item->>'artist',
                v_item->>'song', r.worker_id, p_max_s);
        END IF;
        IF v_outcome IN ('stored', 'duplicate') THEN
            DELETE FROM refused_plays x WHERE x.id = r.id;
            PERFORM airtrack_audit(r.kind || '.accepted', r.stream_id::text,
                                   jsonb_build_object('refused_id', r.id, 'reason', r.reason,
                                                      'worker', r.worker_id, 'item', v_item,
                                                      'outcome', v_outcome));
        END IF;
        id := r.wanted;
        outcome := v_outcome;
        RETURN NEXT;
    END LOOP;
END
$fn$;

-- An operator discards refused items: deleted, each copied into the audit log first.
-- Returns the ids discarded.
CREATE OR REPLACE FUNCTION airtrack_discard_refused(p_ids bigint[])
RETURNS bigint[]
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    v_done bigint[] := '{}';
BEGIN
    FOR r IN
        DELETE FROM refused_plays WHERE id = ANY(p_ids) RETURNING *
    LOOP
        PERFORM airtrack_audit(r.kind || '.discarded', r.stream_id::text,
                               jsonb_build_object('refused_id', r.id, 'reason', r.reason,
                                                  'worker', r.worker_id, 'item', r.item));
        v_done := v_done || r.id;
    END LOOP;
    RETURN (SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(v_done) x);
END
$fn$;
