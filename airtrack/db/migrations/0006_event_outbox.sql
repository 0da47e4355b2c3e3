-- 0006: the outbox of events for integrations (webhooks, the event stream). An event
-- is written in the same transaction as the change that caused it (functions in
-- events.sql and ownership.sql), then delivered from here; nothing is lost when a
-- process dies between the change and the delivery.
CREATE TABLE outbound_events (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE
                DEFAULT ('evt_' || replace(gen_random_uuid()::text, '-', '')),
    type        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    stream_id   bigint,  -- no foreign key: an event outlives its stream
    data        jsonb NOT NULL
);
CREATE INDEX outbound_events_at_idx ON outbound_events (at);
