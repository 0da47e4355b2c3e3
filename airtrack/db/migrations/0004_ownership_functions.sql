-- 0004: the ownership functions move to airtrack/db/ownership.sql, which migrate()
-- applies after the numbered migrations whenever its text changes; this table records
-- the text applied. The functions of 0002 and 0003 are replaced there in place.
CREATE TABLE schema_scripts (
    name        text PRIMARY KEY,
    sha256      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
