-- 0008: per-worker credentials (docs/security.md). A worker claims its id with a secret
-- it keeps under its HOME; only the secret's SHA-256 is stored. No foreign key: a claim
-- is made before the worker's row exists (its first register).
CREATE TABLE worker_credentials (
    worker_id  text PRIMARY KEY,
    sha256     text NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now()
);
