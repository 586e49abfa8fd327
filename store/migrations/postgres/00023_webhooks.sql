-- Webhooks (issue 10, "Events out"): endpoints with their sealed signing
-- secret, the outbox of events, one delivery per (event, endpoint) and the
-- log of its attempts. Same tables and columns on both databases.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id              TEXT    PRIMARY KEY,
    component_appid TEXT    NOT NULL REFERENCES platforms (component_appid),
    tenant_id       BIGINT  NOT NULL DEFAULT 0,
    url             TEXT    NOT NULL,
    events          TEXT    NOT NULL DEFAULT '[]',
    secret_sealed   TEXT    NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    description     TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX webhook_endpoints_platform ON webhook_endpoints (component_appid, tenant_id, id);

-- The outbox: an event is written in the transaction of what it reports,
-- with one River delivery job per matching endpoint.
CREATE TABLE webhook_events (
    id              TEXT   PRIMARY KEY,
    component_appid TEXT   NOT NULL,
    type            TEXT   NOT NULL,
    appid           TEXT   NOT NULL DEFAULT '',
    tenant_id       BIGINT NOT NULL DEFAULT 0,
    payload         TEXT   NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

-- Ids start with their creation time in hex, so id order is time order.
CREATE TABLE webhook_deliveries (
    id              TEXT    PRIMARY KEY,
    endpoint_id     TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    component_appid TEXT    NOT NULL,
    tenant_id       BIGINT  NOT NULL DEFAULT 0,
    event_id        TEXT    NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    event_type      TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    delivered_at    BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (component_appid, status, id);

CREATE TABLE webhook_attempts (
    delivery_id TEXT    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    duration_ms BIGINT  NOT NULL DEFAULT 0,
    at          BIGINT  NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
