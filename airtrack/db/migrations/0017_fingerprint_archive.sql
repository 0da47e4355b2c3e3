-- 0017: the fingerprint archive (what workers heard, as query prints, no audio), plays
-- back-filled from it, and which tracks have had their back-fill.
-- archive.sql holds the functions (partitions, the fenced write, retention).
CREATE TABLE fingerprint_archive (
    stream_id        bigint NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_s       real NOT NULL CHECK (duration_s > 0),
    idempotency_key  text NOT NULL,
    epoch            bigint NOT NULL,
    worker_id        text,
    pairs            integer NOT NULL CHECK (pairs >= 0),
    data             bytea NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, started_at, idempotency_key)
) PARTITION BY RANGE (started_at);

ALTER TABLE plays DROP CONSTRAINT plays_source_check;
ALTER TABLE plays ADD CONSTRAINT plays_source_check
    CHECK (source IN ('fingerprint', 'metadata', 'backfill'));

ALTER TABLE tracks ADD COLUMN archive_searched_at timestamptz;
UPDATE tracks SET archive_searched_at = now();
CREATE INDEX tracks_archive_due_idx ON tracks (added_at) WHERE archive_searched_at IS NULL;
