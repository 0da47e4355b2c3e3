-- Every SQL statement airtrack runs, by name. Placeholders: %(name)s.
-- Lock order everywhere (R2.1): workers (by id) → assignments (by stream_id) → plays.

-- ---------------------------------------------------------------- migrations
-- name: migration_lock
SELECT pg_advisory_xact_lock(%(key)s)

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)

-- name: migrations_applied
SELECT version, name, applied_at FROM schema_migrations ORDER BY version

-- name: migration_record
INSERT INTO schema_migrations (version, name) VALUES (%(version)s, %(name)s)

-- ---------------------------------------------------------------- health
-- name: ping
SELECT 1 AS ok

-- name: server_info
SELECT current_setting('server_version') AS version,
       current_setting('statement_timeout') AS statement_timeout,
       current_setting('lock_timeout') AS lock_timeout,
       current_setting('idle_in_transaction_session_timeout') AS idle_timeout
