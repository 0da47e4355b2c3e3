-- 0016: listener figures. A stream may name its server's statistics endpoint
-- (stats_url: Icecast status-json.xsl, SHOUTcast v1/v2 stats); the leader polls it and
-- keeps one sample per stream and poll (orchestrator/listeners.py). Reports turn the
-- samples into each play's listeners (listeners.sql).
ALTER TABLE streams ADD COLUMN stats_url text;

CREATE TABLE listener_samples (
    stream_id  bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    listeners  integer NOT NULL CHECK (listeners >= 0),
    PRIMARY KEY (stream_id, at)
);
