-- 0006: the play log filtered by track (GET /plays?track_id=, ?isrc=) reads one track's
-- plays newest first from an index instead of walking every play; deleting a track
-- (plays.track_id ON DELETE SET NULL) no longer scans the whole log either.
CREATE INDEX plays_track_started_idx ON plays (track_id, started_at DESC);
