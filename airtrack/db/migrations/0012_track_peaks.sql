-- 0012: each track's spectral peaks, so that prints can be re-derived from
-- the database alone when the hash layout changes (`airtrack catalog reindex`).
CREATE TABLE track_peaks (
    track_id    bigint PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    peaks       bytea NOT NULL
);

-- Prints of the next engine, staged by a reindex and swapped into track_prints in one
-- transaction once every track has them: the old index keeps serving until then.
CREATE TABLE track_prints_next (
    track_id    bigint PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    engine      text NOT NULL,
    prints      bytea NOT NULL
);
