-- 0011: in-band stream titles (ICY StreamTitle) and metadata-only plays.
-- A title is a change point: it holds from `at` until the stream's next title. Titles
-- are fenced by epoch like plays (airtrack_record_titles, ownership.sql).
CREATE TABLE stream_titles (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    stream_id        bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    at               timestamptz NOT NULL,
    -- NULL: the block named no StreamTitle; '': the station cleared it
    title            text,
    url              text,
    encoding         text NOT NULL DEFAULT 'utf-8',
    worker_id        text,
    epoch            bigint NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stream_titles_stream_at_idx ON stream_titles (stream_id, at);

-- What a play rests on: the fingerprint (airtrack heard it) or only the station's title
-- ('metadata': a song the station named, kept apart from heard plays unless asked).
ALTER TABLE plays
    ADD COLUMN source text NOT NULL DEFAULT 'fingerprint'
        CHECK (source IN ('fingerprint', 'metadata'));
