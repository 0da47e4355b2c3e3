-- 0013: the catalog as segments. The plan (which track ids each segment
-- holds, which ids are removed) lives here, so every replica names the same segments and
-- workers see one catalog version whichever replica answers (docs/scaling.md).
CREATE TABLE catalog_manifest (
    engine      text PRIMARY KEY,
    revision    bigint NOT NULL,
    changed_at  timestamptz NOT NULL,
    plan        jsonb NOT NULL
);
