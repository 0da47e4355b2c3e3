-- 0015: the internal audit log gets a name of its own (it was "events", next to the
-- integrations' outbound_events), and what the fence refuses (plays and stream titles
-- with a stale epoch) is kept for review instead of only being counted.
-- play_log.sql recreates the batch functions with their new signatures, ownership.sql
-- the audit writer under its new name.
DROP FUNCTION IF EXISTS airtrack_event(text, text, jsonb);
DROP FUNCTION IF EXISTS airtrack_record_plays(
    text[], bigint[], bigint[], bigint[], timestamptz[], timestamptz[], double precision[],
    timestamptz[], double precision, double precision, double precision, text);
DROP FUNCTION IF EXISTS airtrack_record_titles(
    text[], bigint[], bigint[], timestamptz[], text[], text[], text[], text[], text[],
    double precision, text);

ALTER TABLE events RENAME TO audit_log;
ALTER SEQUENCE events_id_seq RENAME TO audit_log_id_seq;
ALTER INDEX events_pkey RENAME TO audit_log_pkey;
ALTER INDEX events_at_idx RENAME TO audit_log_at_idx;

-- A play or stream title the fence refused, as its worker sent it, until an operator
-- accepts it (it is logged then) or discards it (airtrack plays refused ...).
CREATE TABLE refused_plays (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('play', 'title')),
    idempotency_key  text NOT NULL,
    -- no foreign key: an item about a stream that does not exist is kept too
    stream_id        bigint NOT NULL,
    epoch            bigint NOT NULL,
    worker_id        text,
    -- unknown_stream, epoch_ahead, epoch_superseded, other_writer (airtrack_fence)
    reason           text NOT NULL,
    item             jsonb NOT NULL,
    refused_at       timestamptz NOT NULL DEFAULT now(),
    times            integer NOT NULL DEFAULT 1,
    UNIQUE (kind, idempotency_key)
);
CREATE INDEX refused_plays_stream_idx ON refused_plays (stream_id, refused_at);
