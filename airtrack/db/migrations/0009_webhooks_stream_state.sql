-- 0009: webhook endpoints with their delivery cursor and lease, and each stream's
-- state (up / down / unmonitored) with a log of its transitions (docs/integrations.md).
ALTER TABLE streams
    ADD COLUMN state       text NOT NULL DEFAULT 'unmonitored'
                           CHECK (state IN ('up', 'down', 'unmonitored')),
    ADD COLUMN state_since timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN state_cause text;

CREATE TABLE stream_state_log (
    id          bigserial PRIMARY KEY,
    stream_id   bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    state       text NOT NULL,
    cause       text
);
CREATE INDEX stream_state_log_stream_at_idx ON stream_state_log (stream_id, at);

-- The id of the transaction that wrote each event: ids are taken before commit, so a
-- reader ordering by id alone could pass an id whose transaction commits later and miss
-- it. Readers take only events of finished transactions (txid below the snapshot's xmin)
-- in (txid, id) order; anything committed later sorts after them (docs/integrations.md).
ALTER TABLE outbound_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbound_events_txid_idx ON outbound_events (txid, id);

CREATE TABLE webhook_endpoints (
    id               bigserial PRIMARY KEY,
    url              text NOT NULL,
    secret           text NOT NULL,
    event_types      text[] NOT NULL DEFAULT '{}',
    stream_ids       bigint[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    cursor_txid      xid8 NOT NULL DEFAULT '0',
    cursor           bigint NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    failing_since    timestamptz,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_success_at  timestamptz,
    last_error       text,
    delivered        bigint NOT NULL DEFAULT 0,
    failures         bigint NOT NULL DEFAULT 0,
    given_up         bigint NOT NULL DEFAULT 0,
    leased_by        text,
    leased_until     timestamptz
);

CREATE TABLE webhook_giveups (
    endpoint_id  bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id     bigint NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL,
    error        text,
    PRIMARY KEY (endpoint_id, event_id)
);
