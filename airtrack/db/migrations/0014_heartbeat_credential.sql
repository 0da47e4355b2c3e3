-- 0014: the heartbeat checks the worker's credential in its own round trip (the check
-- was one more query per heartbeat): airtrack_heartbeat takes the credential's digest
-- now. The old signature goes; ownership.sql creates the new one.
DROP FUNCTION IF EXISTS airtrack_heartbeat(text, bigint[], bigint[], text[], text[], jsonb);
