-- Integrations (docs/integrations.md): webhook endpoints, their delivery from outbound_events, and
-- the event stream. Functions that write events live in events.sql.

-- ---------------------------------------------------------------- endpoints
-- name: webhook_add
-- A new endpoint starts after the newest event: it receives what happens from now on.
INSERT INTO webhook_endpoints (url, secret, event_types, stream_ids, cursor_txid, cursor)
SELECT %(url)s, %(secret)s, %(types)s, %(stream_ids)s,
       COALESCE(last.txid, '0'), COALESCE(last.id, 0)
FROM (SELECT 1) one
LEFT JOIN LATERAL (SELECT txid, id FROM outbound_events ORDER BY txid DESC, id DESC LIMIT 1)
    last ON true
RETURNING id, url, event_types, stream_ids, created_at

-- name: webhook_add_lock
-- Serialises adds, so the endpoint cap holds under concurrent adds.
SELECT pg_advisory_xact_lock(hashtext('airtrack.webhook_endpoints'))

-- name: webhook_count
SELECT count(*) AS n FROM webhook_endpoints

-- name: webhook_stream_ids
SELECT id, name FROM streams WHERE name = ANY(%(names)s)

-- name: webhook_list
SELECT e.id, e.url, e.event_types, e.stream_ids,
       ARRAY(SELECT s.name FROM streams s WHERE s.id = ANY(e.stream_ids) ORDER BY s.name)
           AS streams,
       e.created_at, e.cursor, e.attempts,
       e.failing_since, e.next_attempt_at, e.last_success_at, e.last_error, e.delivered,
       e.failures, e.given_up, e.leased_by, e.leased_until,
       (SELECT count(*) FROM outbound_events o
         WHERE (o.txid, o.id) > (e.cursor_txid, e.cursor)
           AND (cardinality(e.event_types) = 0 OR o.type = ANY(e.event_types))
           AND (cardinality(e.stream_ids) = 0 OR o.stream_id = ANY(e.stream_ids))) AS queued
FROM webhook_endpoints e
ORDER BY e.id

-- name: webhook_get
SELECT id, url, secret, event_types, stream_ids FROM webhook_endpoints WHERE id = %(id)s

-- name: webhook_remove
DELETE FROM webhook_endpoints WHERE id = %(id)s RETURNING id, url

-- name: webhook_due
-- The dispatcher's one read per wake-up, whatever the number of endpoints: endpoints
-- not busy here, not backing off, not leased by another replica, that have events to
-- deliver (``ready``) or events held back by an older open transaction (``held``: look
-- again soon, that transaction's end sends no NOTIFY).
-- First, an endpoint with a filter whose cursor lies %(skip)s or more events behind the
-- newest finished one, with no event it wants in between, moves its cursor there: the
-- events it does not want are then not scanned again at every wake-up (an endpoint for
-- alerts only would otherwise read the whole retained history each time). Fenced as a
-- delivery is: not an endpoint leased by another replica, nor one busy here. (The reads
-- below still see the old cursor; the next wake-up sees the new one.)
WITH horizon AS MATERIALIZED (  -- once per statement: it reads pg_stat_activity
    SELECT airtrack_events_horizon() AS x
), newest AS (
    SELECT o.txid, o.id FROM outbound_events o
    WHERE o.txid < (SELECT x FROM horizon)
    ORDER BY o.txid DESC, o.id DESC LIMIT 1
), skipped AS (
    UPDATE webhook_endpoints e SET cursor_txid = n.txid, cursor = n.id
    FROM newest n
    WHERE (cardinality(e.event_types) > 0 OR cardinality(e.stream_ids) > 0)
      AND (e.cursor_txid, e.cursor) < (n.txid, n.id)
      AND n.id - e.cursor >= %(skip)s
      AND (e.leased_until IS NULL OR e.leased_until < now() OR e.leased_by = %(by)s)
      AND NOT (e.id = ANY(%(busy)s::bigint[]))
      AND NOT EXISTS (SELECT 1 FROM outbound_events o
                      WHERE (o.txid, o.id) > (e.cursor_txid, e.cursor)
                        AND (o.txid, o.id) <= (n.txid, n.id)
                        AND (cardinality(e.event_types) = 0 OR o.type = ANY(e.event_types))
                        AND (cardinality(e.stream_ids) = 0
                             OR o.stream_id = ANY(e.stream_ids)))
    RETURNING e.id
)
SELECT id, ready, held FROM (
    -- Scalar subqueries in (txid, id) order, LIMIT 1: the index from the cursor on, up
    -- to the first event wanted. (EXISTS drops the order, and its plan scanned the whole
    -- table from its start for each endpoint, its newest rows last.)
    SELECT e.id,
           (SELECT 1 FROM outbound_events o
            WHERE (o.txid, o.id) > (e.cursor_txid, e.cursor)
              AND o.txid < (SELECT x FROM horizon)
              AND (cardinality(e.event_types) = 0 OR o.type = ANY(e.event_types))
              AND (cardinality(e.stream_ids) = 0 OR o.stream_id = ANY(e.stream_ids))
            ORDER BY o.txid, o.id LIMIT 1) IS NOT NULL AS ready,
           (SELECT 1 FROM outbound_events o
            WHERE (o.txid, o.id) > (e.cursor_txid, e.cursor)
              AND o.txid >= (SELECT x FROM horizon)
              AND (cardinality(e.event_types) = 0 OR o.type = ANY(e.event_types))
              AND (cardinality(e.stream_ids) = 0 OR o.stream_id = ANY(e.stream_ids))
            ORDER BY o.txid, o.id LIMIT 1) IS NOT NULL AS held
    FROM webhook_endpoints e
    WHERE e.next_attempt_at <= now()
      AND (e.leased_until IS NULL OR e.leased_until < now() OR e.leased_by = %(by)s)
      AND NOT (e.id = ANY(%(busy)s::bigint[]))
) due
WHERE ready OR held
ORDER BY id

-- ---------------------------------------------------------------- delivery
-- name: webhook_lease
-- Compare-and-set: only one replica delivers for an endpoint at a time.
UPDATE webhook_endpoints
SET leased_by = %(by)s, leased_until = now() + make_interval(secs => %(lease_s)s)
WHERE id = %(id)s
  AND (leased_until IS NULL OR leased_until < now() OR leased_by = %(by)s)
RETURNING id, url, secret, event_types, stream_ids, cursor_txid::text AS cursor_txid, cursor,
          attempts, GREATEST(0, EXTRACT(EPOCH FROM (next_attempt_at - now())))::float8 AS wait_s

-- name: webhook_release
UPDATE webhook_endpoints SET leased_until = NULL
WHERE id = %(id)s AND leased_by = %(by)s

-- name: events_held_back
-- Whether a committed event past the cursor is held back by an older transaction still
-- open: that transaction's commit sends no NOTIFY, so the reader must look again soon.
-- (In index order from the horizon on, as in webhook_due.)
SELECT (
    SELECT 1 FROM outbound_events o
    WHERE (txid, id) > (%(cursor_txid)s::xid8, %(cursor)s)
      AND txid >= (SELECT airtrack_events_horizon())
      AND (cardinality(%(types)s::text[]) = 0 OR type = ANY(%(types)s::text[]))
      AND (cardinality(%(stream_ids)s::bigint[]) = 0 OR stream_id = ANY(%(stream_ids)s::bigint[]))
    ORDER BY o.txid, o.id LIMIT 1
) IS NOT NULL AS held

-- name: webhook_delivered
-- Fenced by the lease; the cursor only moves forward.
UPDATE webhook_endpoints
SET cursor_txid = %(txid)s::xid8, cursor = %(event)s, attempts = 0, failing_since = NULL,
    next_attempt_at = now(), last_success_at = now(), last_error = NULL,
    delivered = delivered + 1,
    leased_until = now() + make_interval(secs => %(lease_s)s)
WHERE id = %(id)s AND leased_by = %(by)s
  AND (cursor_txid, cursor) < (%(txid)s::xid8, %(event)s)
RETURNING cursor

-- name: webhook_failed
SELECT airtrack_webhook_failed(%(id)s, %(by)s, %(txid)s::xid8, %(event)s, %(error)s, %(delay_s)s,
                               %(retry_s)s, %(lease_s)s) AS outcome

-- ---------------------------------------------------------------- event stream
-- name: events_after
-- What a webhook's delivery and the event stream read past their cursor: only events of
-- finished transactions, in (txid, id) order (see outbound_events.txid). One more row,
-- with no event_id, marks the newest event of a finished transaction at all: a reader
-- with a filter that got fewer than %(limit)s events may move its cursor there, past the
-- events it does not want, so that they are not read again (same statement, so the
-- same snapshot: no wanted event lies between). Callers order the events themselves.
WITH horizon AS MATERIALIZED (SELECT airtrack_events_horizon() AS x)
(SELECT txid::text AS txid, id, event_id, type, at, stream_id, data FROM outbound_events o
 WHERE (txid, id) > (%(cursor_txid)s::xid8, %(cursor)s)
   AND txid < (SELECT x FROM horizon)
   AND (cardinality(%(types)s::text[]) = 0 OR type = ANY(%(types)s::text[]))
   AND (cardinality(%(stream_ids)s::bigint[]) = 0 OR stream_id = ANY(%(stream_ids)s::bigint[]))
 ORDER BY o.txid, o.id  -- the column, not the text alias: '1022' < '772'
 LIMIT %(limit)s)
UNION ALL
(SELECT n.txid::text, n.id, NULL::text, NULL::text, NULL::timestamptz, NULL::bigint, NULL::jsonb
 FROM outbound_events n
 WHERE n.txid < (SELECT x FROM horizon)
 ORDER BY n.txid DESC, n.id DESC LIMIT 1)  -- the columns again, not the text

-- name: events_position
-- Where a stream resumes after event %(id)s: that event's transaction; for an id that is
-- not in the outbox, the nearest event before it (an id past the newest event resumes
-- at the newest: new events only), else the start (an id pruned away).
SELECT COALESCE((SELECT txid::text FROM outbound_events WHERE id = %(id)s),
                (SELECT txid::text FROM outbound_events WHERE id < %(id)s
                 ORDER BY id DESC LIMIT 1),
                '0') AS txid

-- name: events_rebase_restored
-- After a restore into another cluster (events.sql): run by every migrate.
SELECT airtrack_rebase_restored_events()

-- name: events_last
SELECT o.txid::text AS txid, o.id FROM outbound_events o ORDER BY o.txid DESC, o.id DESC LIMIT 1

-- name: events_prune
DELETE FROM outbound_events WHERE at < now() - make_interval(secs => %(older_s)s)

-- name: events_listen
LISTEN airtrack_events

-- ---------------------------------------------------------------- stream state
-- name: stream_state_evaluate
SELECT * FROM airtrack_stream_state_evaluate(%(down_after_s)s, %(critical_after_s)s)

-- name: stream_uptime
SELECT stream_id, name, state AS health, up_s, down_s
FROM airtrack_stream_uptime(make_interval(secs => %(window_s)s))
