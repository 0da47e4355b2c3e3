-- 0010: where the song's beginning falls on the stream's clock for each play. Reports of
-- one airing share it (a handoff, a restart); a back-to-back repeat or a DJ's rewind has
-- another, so airtrack_record_plays no longer merges those into the airing before.
ALTER TABLE plays ADD COLUMN song_origin timestamptz;
-- The function takes the origins now: the old signature goes (ownership.sql recreates it).
DROP FUNCTION IF EXISTS airtrack_record_plays(
    text[], bigint[], bigint[], bigint[], timestamptz[], timestamptz[], double precision[],
    double precision, double precision, text);
