-- play_track_snapshot: a play keeps the song it aired, whoever inserts it and whatever
-- happens to the catalog later. Removing a track sets plays.track_id to NULL (the FK);
-- without these copies the play would lose its title, artist and source ("#None").
-- There is no ISRC in the catalog yet: title, artist and the file's source identify it.
ALTER TABLE plays
    ADD COLUMN track_title   text,
    ADD COLUMN track_artist  text,
    ADD COLUMN track_source  text;

-- Finds a track's plays (catalog remove counts them) and serves the FK's SET NULL.
CREATE INDEX plays_track_idx ON plays (track_id);

CREATE FUNCTION airtrack_play_track_snapshot() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- A NULL track_id (unknown id, or the track's removal setting it NULL) keeps the
    -- copy taken when the play was stored.
    IF NEW.track_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.track_id IS DISTINCT FROM OLD.track_id) THEN
        SELECT t.title, t.artist, t.source
        INTO NEW.track_title, NEW.track_artist, NEW.track_source
        FROM tracks t WHERE t.id = NEW.track_id;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER plays_track_snapshot
BEFORE INSERT OR UPDATE OF track_id ON plays
FOR EACH ROW EXECUTE FUNCTION airtrack_play_track_snapshot();

UPDATE plays p
SET track_title = t.title, track_artist = t.artist, track_source = t.source
FROM tracks t
WHERE t.id = p.track_id;
