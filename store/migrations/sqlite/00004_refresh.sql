-- Refresh scheduling and its failures (issue 14, items 3 and 4). Same text for
-- SQLite and PostgreSQL; keep the two files identical.

-- +goose Up
-- One row per authorizer the refresher has touched: until when a queued
-- refresh job stands for it (the sweep skips it until then), and its last
-- failures. Rows of healthy authorizers keep failures = 0.
CREATE TABLE authorizer_refresh (
    component_appid TEXT    NOT NULL,
    appid           TEXT    NOT NULL,
    queued_until    BIGINT  NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0, -- consecutive failed refreshes
    last_errcode    INTEGER NOT NULL DEFAULT 0, -- WeChat's errcode; -2 no answer (network, timeout, HTTP status)
    last_error      TEXT    NOT NULL DEFAULT '',
    last_failed_at  BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (component_appid, appid),
    FOREIGN KEY (component_appid, appid) REFERENCES authorizers (component_appid, appid) ON DELETE CASCADE
);
-- TokenHealth's failing count.
CREATE INDEX authorizer_refresh_failing ON authorizer_refresh (component_appid) WHERE failures > 0;
-- RefreshDue: one platform's due tokens in expiry order.
CREATE INDEX authorizers_platform_due ON authorizers (component_appid, status, token_expires_at, appid);

-- A WeChat API paused for a platform after a quota or outage error, shared by
-- every instance. probes counts the calls made to see whether it cleared.
CREATE TABLE api_pauses (
    component_appid TEXT    NOT NULL REFERENCES platforms (component_appid),
    api             TEXT    NOT NULL,
    paused_until    BIGINT  NOT NULL,
    since           BIGINT  NOT NULL,
    errcode         INTEGER NOT NULL DEFAULT 0,
    reason          TEXT    NOT NULL DEFAULT '',
    probes          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (component_appid, api)
);

-- The next free call slot of a paced API (unix milliseconds): the cluster's
-- schedule for calls such as api_authorizer_token.
CREATE TABLE pacers (
    name      TEXT   PRIMARY KEY,
    next_slot BIGINT NOT NULL
);

-- +goose Down
DROP TABLE pacers;
DROP TABLE api_pauses;
DROP INDEX authorizers_platform_due;
DROP TABLE authorizer_refresh;
