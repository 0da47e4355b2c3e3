-- The fingerprint archive's functions: day partitions, the fenced write of segments,
-- retention. Callers: airtrack/orchestrator/archive.py (write, maintain) and
-- airtrack/orchestrator/backfill.py (read).
--
--   airtrack_archive_partition   make the partition of one UTC day (if missing)
--   airtrack_archive_maintain    today's and tomorrow's partitions; drop those older
--                                than the retention (the leader, every tick)
--   airtrack_record_archive      a batch of segments, fenced by airtrack_fence like plays
--
-- A segment's write is fenced by the one rule of ownership.sql (airtrack_fence): a worker
-- archives only the streams it owns, at its epochs. What the fence refuses is not kept
-- for review (prints have no value once late: the stream's new owner archives it).
--
-- Applied by airtrack.db.migrations like ownership.sql (CREATE OR REPLACE only).

CREATE OR REPLACE FUNCTION airtrack_archive_partition(p_day date)
RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    v_name text := 'fingerprint_archive_' || to_char(p_day, 'YYYYMMDD');
BEGIN
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF fingerprint_archive '
        'FOR VALUES FROM (%L) TO (%L)',
        v_name, (p_day::timestamp AT TIME ZONE 'UTC'),
        ((p_day + 1)::timestamp AT TIME ZONE 'UTC'));
    RETURN true;
END
$fn$;

-- Partitions for today and tomorrow (UTC); partitions whose day ended more than p_keep_days
-- ago are dropped. Result: {"created": [...], "dropped": [...]}.
CREATE OR REPLACE FUNCTION airtrack_archive_maintain(p_keep_days integer)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_today date := (now() AT TIME ZONE 'UTC')::date;
    v_created text[] := '{}';
    v_dropped text[] := '{}';
    r record;
BEGIN
    IF airtrack_archive_partition(v_today) THEN
        v_created := v_created || ('fingerprint_archive_' || to_char(v_today, 'YYYYMMDD'));
    END IF;
    IF airtrack_archive_partition(v_today + 1) THEN
        v_created := v_created || ('fingerprint_archive_' || to_char(v_today + 1, 'YYYYMMDD'));
    END IF;
    FOR r IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'fingerprint_archive'::regclass
          AND c.relname ~ '^fingerprint_archive_[0-9]{8}$'
          AND to_date(right(c.relname, 8), 'YYYYMMDD') < v_today - p_keep_days
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I', r.relname);
        v_dropped := v_dropped || r.relname::text;
    END LOOP;
    RETURN jsonb_build_object('created', to_jsonb(v_created), 'dropped', to_jsonb(v_dropped));
END
$fn$;

-- A batch of archive segments, one call: fenced (airtrack_fence), then each segment the
-- fence lets through is stored once (its key: 'stored' or 'duplicate'); refused ones are
-- 'stale'. A segment of a day without a partition gets one (a leader that has not run yet).
CREATE OR REPLACE FUNCTION airtrack_record_archive(
    p_keys text[],
    p_sids bigint[],
    p_epochs bigint[],
    p_starts timestamptz[],
    p_durations real[],
    p_pairs integer[],
    p_datas bytea[],
    p_worker text
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    f record;
    v_day date;
BEGIN
    SELECT * INTO f FROM airtrack_fence_batch('archive', p_sids, p_epochs, p_worker);

    FOR v_day IN
        SELECT DISTINCT (s AT TIME ZONE 'UTC')::date FROM unnest(p_starts) s
    LOOP
        PERFORM airtrack_archive_partition(v_day);
    END LOOP;

    FOR r IN
        SELECT u.*
        FROM unnest(p_keys, p_sids, p_epochs, p_starts, p_durations, p_pairs, p_datas)
             WITH ORDINALITY AS u(key, sid, epoch, started, dur, npairs, data, ord)
        ORDER BY u.sid, u.started, u.ord
    LOOP
        CONTINUE WHEN f.writers[r.ord] IS NULL;
        INSERT INTO fingerprint_archive (stream_id, started_at, duration_s, idempotency_key,
                                         epoch, worker_id, pairs, data)
        VALUES (r.sid, r.started, r.dur, r.key, r.epoch, f.writers[r.ord], r.npairs, r.data)
        ON CONFLICT DO NOTHING;
        f.statuses[r.ord] := CASE WHEN FOUND THEN 'stored' ELSE 'duplicate' END;
    END LOOP;
    RETURN jsonb_build_object('statuses', to_jsonb(f.statuses), 'kept', 0);
END
$fn$;
