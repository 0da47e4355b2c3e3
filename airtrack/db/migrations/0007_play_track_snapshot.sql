-- 0007: a play keeps the song it aired, whoever inserts it and whatever happens to the
-- catalog later. Removing a track sets plays.track_id to NULL (the foreign key); without
-- these copies the play would lose its title, artist, ISRC and source ("#None"). The
-- copies are taken by the trigger airtrack_play_track_snapshot (ownership.sql).
ALTER TABLE plays
    ADD COLUMN track_title   text,
    ADD COLUMN track_artist  text,
    ADD COLUMN track_source  text,
    ADD COLUMN track_isrc    text;

-- A track's plays newest first (GET /plays?track_id=, ?isrc=; catalog remove counts
-- them) from an index instead of walking every play; serves the FK's SET NULL too.
CREATE INDEX plays_track_started_idx ON plays (track_id, started_at DESC);

UPDATE plays p
SET track_title = t.title, track_artist = t.artist, track_source = t.source,
    track_isrc = t.isrc
FROM tracks t
WHERE t.id = p.track_id;
