-- 0021: a play of a track removed while the play's report was on its way (held in a
-- worker's outbox, or heard before the worker's catalog lost the track) is still logged
-- when it started before the removal. removed_tracks keeps what such a play copies
-- (play_log.sql, airtrack_track_removed), and plays.removed_track_id names the track a
-- play aired once the removal has set its track_id NULL, so that later reports of the
-- same airing still merge into it.
CREATE TABLE removed_tracks (
    id          bigint PRIMARY KEY,
    title       text,
    artist      text,
    source      text NOT NULL,
    isrc        text,
    duration_s  double precision NOT NULL,
    removed_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE plays ADD COLUMN removed_track_id bigint;
-- a removed track's airings on a stream, newest first (the merge in airtrack_log_play)
CREATE INDEX plays_removed_track_idx ON plays (removed_track_id, started_at DESC)
    WHERE removed_track_id IS NOT NULL;
