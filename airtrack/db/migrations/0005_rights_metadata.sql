-- 0005: what rights reports need. Tracks carry their identifiers and credits; streams
-- carry where they are (time zone first: reports are in station-local time) and their
-- backup URLs; every change of a stream's reported status is kept (coverage reports).
ALTER TABLE tracks
    ADD COLUMN album        text,
    ADD COLUMN label        text,
    ADD COLUMN isrc         text CHECK (isrc ~ '^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$'),
    ADD COLUMN iswc         text CHECK (iswc ~ '^T-[0-9]{9}-[0-9]$'),
    ADD COLUMN composers    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN release_year integer CHECK (release_year BETWEEN 1000 AND 9999),
    ADD COLUMN extra        jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE UNIQUE INDEX tracks_isrc_uniq ON tracks (isrc) WHERE isrc IS NOT NULL;

ALTER TABLE streams
    ADD COLUMN backup_urls  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN timezone     text NOT NULL DEFAULT 'UTC',
    ADD COLUMN country      text,
    ADD COLUMN region       text,
    ADD COLUMN city         text,
    ADD COLUMN genre        text,
    ADD COLUMN extra        jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Each change of a stream's status as its owner reported it (written by
-- airtrack_heartbeat in ownership.sql); with assignment_epochs (who owned it when)
-- this is the stream's monitoring history.
CREATE TABLE stream_status_log (
    id          bigserial PRIMARY KEY,
    stream_id   bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    status      text,
    error       text,
    worker_id   text
);
CREATE INDEX stream_status_log_stream_at_idx ON stream_status_log (stream_id, at);
CREATE INDEX assignment_epochs_stream_at_idx ON assignment_epochs (stream_id, at);
