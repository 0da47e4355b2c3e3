-- Recurring unknowns: how airings join, merge and leave the list. Callers:
-- airtrack/orchestrator/discovery.py (absorb) and airtrack/orchestrator/unknowns.py
-- (dismiss, label).
--
--   airtrack_unknown_absorb   the stretches of one component of a discovery pass: each
--                             picks its best airing; the component joins the unknowns
--                             picked as the same airing by p_share of their union
--                             (merged into the oldest), else the best picked one; each
--                             stretch becomes (or widens) one
--                             of its airings (airtrack_unknown_add_airing); with none,
--                             a new unknown when p_create (else NULL: the caller checks
--                             the catalog and the daily cap first)
--   airtrack_unknown_status   open -> dismissed | labelled (track id); dismissed -> labelled
--
-- A stretch may join an airing when, on one stream, they overlap by at least p_join
-- of the shorter (airtrack_unknown_same_airing: a song's repeated section inside its
-- airing joins it); it picks the airing with the largest share of their union, and
-- only that stronger rule merges two unknowns (a stretch spanning a jingle and the song
-- after it joins the song's, and never merges the jingle's into it).
--
-- Status: 'open' (listed), 'dismissed' (hidden, its new airings too), 'labelled' (a
-- catalog track now: the workers hear it, back-fill logged its airings). A merge keeps
-- the strongest: labelled over dismissed over open.
--
-- Applied by airtrack.db.migrations like ownership.sql (CREATE OR REPLACE only).

CREATE OR REPLACE FUNCTION airtrack_unknown_same_airing(
    a_start timestamptz, a_end timestamptz, b_start timestamptz, b_end timestamptz,
    p_join real
) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT least(a_end, b_end) > greatest(a_start, b_start)
       AND extract(epoch FROM least(a_end, b_end) - greatest(a_start, b_start))
           >= p_join * extract(epoch FROM least(a_end - a_start, b_end - b_start))
$fn$;

CREATE OR REPLACE FUNCTION airtrack_unknown_add_airing(
    p_unknown bigint, p_sid bigint, p_start timestamptz, p_end timestamptz, p_join real
) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    v_ids bigint[];
    v_start timestamptz;
    v_end timestamptz;
BEGIN
    SELECT array_agg(id ORDER BY id), least(min(started_at), p_start),
           greatest(max(ended_at), p_end)
    INTO v_ids, v_start, v_end
    FROM unknown_airings
    WHERE unknown_id = p_unknown AND stream_id = p_sid
      AND started_at < p_end AND ended_at > p_start
      AND airtrack_unknown_same_airing(started_at, ended_at, p_start, p_end, p_join);
    IF v_ids IS NULL THEN
        INSERT INTO unknown_airings (unknown_id, stream_id, started_at, ended_at)
        VALUES (p_unknown, p_sid, p_start, p_end);
        RETURN;
    END IF;
    -- one airing where stretches overlap: the first widened, the others folded into it
    UPDATE unknown_airings SET started_at = v_start, ended_at = v_end WHERE id = v_ids[1];
    DELETE FROM unknown_airings WHERE id = ANY(v_ids[2:]);
END
$fn$;

CREATE OR REPLACE FUNCTION airtrack_unknown_absorb(
    p_sids bigint[], p_starts timestamptz[], p_ends timestamptz[], p_join real,
    p_share real, p_create boolean
) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_ids bigint[];
    v_id bigint;
    v_status text;
    v_track bigint;
    r record;
BEGIN
    -- each stretch's best airing (the largest share of their union); the component
    -- joins the oldest unknown picked, and merges only those that are the same airing
    -- by that stronger rule (a stretch spanning a jingle and the song after it is
    -- mostly the song: it must not merge the jingle's unknown into the song's)
    WITH pick AS (
        SELECT DISTINCT ON (s.ord) a.unknown_id,
               extract(epoch FROM least(a.ended_at, s.en) - greatest(a.started_at, s.st))
               / nullif(extract(epoch FROM greatest(a.ended_at, s.en)
                                        - least(a.started_at, s.st)), 0) AS iou
        FROM unnest(p_sids, p_starts, p_ends) WITH ORDINALITY AS s(sid, st, en, ord)
        JOIN unknown_airings a
          ON a.stream_id = s.sid AND a.started_at < s.en AND a.ended_at > s.st
         AND airtrack_unknown_same_airing(a.started_at, a.ended_at, s.st, s.en, p_join)
        ORDER BY s.ord, 2 DESC, a.unknown_id
    )
    SELECT (array_agg(unknown_id ORDER BY iou DESC, unknown_id))[1],
           array_agg(DISTINCT unknown_id ORDER BY unknown_id) FILTER (WHERE iou >= p_share)
    INTO v_id, v_ids
    FROM pick;
    -- merged: the unknowns picked by the strong rule; else the one best picked alone
    IF v_id IS NOT NULL AND v_ids IS NULL THEN
        v_ids := ARRAY[v_id];
    END IF;
    IF v_id IS NULL THEN
        IF NOT p_create THEN
            RETURN NULL;
        END IF;
        INSERT INTO unknowns DEFAULT VALUES RETURNING id INTO v_id;
    ELSE
        v_id := v_ids[1];
        PERFORM 1 FROM unknowns WHERE id = ANY(v_ids) ORDER BY id FOR UPDATE;
        IF cardinality(v_ids) > 1 THEN
            SELECT CASE WHEN bool_or(status = 'labelled') THEN 'labelled'
                        WHEN bool_or(status = 'dismissed') THEN 'dismissed'
                        ELSE 'open' END,
                   (array_agg(track_id ORDER BY id) FILTER (WHERE track_id IS NOT NULL))[1]
            INTO v_status, v_track
            FROM unknowns WHERE id = ANY(v_ids);
            UPDATE unknowns SET status = v_status, track_id = coalesce(track_id, v_track),
                                changed_at = now()
            WHERE id = v_id;
            UPDATE unknown_airings SET unknown_id = v_id WHERE unknown_id = ANY(v_ids[2:]);
            DELETE FROM unknowns WHERE id = ANY(v_ids[2:]);
        END IF;
    END IF;
    FOR r IN
        SELECT * FROM unnest(p_sids, p_starts, p_ends) AS s(sid, st, en) ORDER BY sid, st
    LOOP
        PERFORM airtrack_unknown_add_airing(v_id, r.sid, r.st, r.en, p_join);
    END LOOP;
    RETURN v_id;
END
$fn$;

-- Returns the new status, or NULL when there is no such unknown; a labelled unknown
-- stays labelled (labelling twice would make two tracks of one recording).
CREATE OR REPLACE FUNCTION airtrack_unknown_status(
    p_id bigint, p_status text, p_track bigint
) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM unknowns WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_status = 'labelled' THEN
        RETURN v_status;
    END IF;
    UPDATE unknowns SET status = p_status, track_id = coalesce(p_track, track_id),
                        changed_at = now()
    WHERE id = p_id;
    RETURN p_status;
END
$fn$;
