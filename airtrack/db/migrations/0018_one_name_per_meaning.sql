-- 0018: one name per meaning on a stream. What its worker reports about capture is
-- capture_status; whether it is up, down or unmonitored is its health (since when, why).
-- The assignment's state stays `state` in the assignments table, where it is unambiguous.
-- The log tables keep their names (stream_status_log, stream_state_log).
ALTER TABLE streams RENAME COLUMN status TO capture_status;
ALTER TABLE streams RENAME COLUMN state TO health;
ALTER TABLE streams RENAME COLUMN state_since TO health_since;
ALTER TABLE streams RENAME COLUMN state_cause TO health_cause;
ALTER TABLE streams RENAME CONSTRAINT streams_state_check TO streams_health_check;
