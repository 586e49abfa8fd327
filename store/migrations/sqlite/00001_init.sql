-- wxfleet schema, SQLite flavour. Keep table and column names identical to
-- migrations/postgres: the store runs one SQL text against both.
--
-- Conventions: times are BIGINT unix milliseconds UTC (0 = unset); booleans
-- are INTEGER 0/1; JSON is TEXT; every *_sealed column holds vault-sealed
-- text ("v1:..."), never a plaintext secret; every tenant row carries
-- component_appid, which is part of its key.

-- +goose Up
CREATE TABLE platforms (
    component_appid TEXT PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    token_sealed    TEXT NOT NULL DEFAULT '',
    aes_key_sealed  TEXT NOT NULL DEFAULT '',
    secret_sealed   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE tickets (
    component_appid TEXT PRIMARY KEY REFERENCES platforms (component_appid),
    ticket_sealed   TEXT NOT NULL,
    create_time     BIGINT NOT NULL,
    received_at     BIGINT NOT NULL
);

CREATE TABLE component_tokens (
    component_appid TEXT PRIMARY KEY REFERENCES platforms (component_appid),
    token_sealed    TEXT NOT NULL,
    expires_at      BIGINT NOT NULL
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE authorizers (
    component_appid      TEXT    NOT NULL REFERENCES platforms (component_appid),
    appid                TEXT    NOT NULL,
    nickname             TEXT    NOT NULL DEFAULT '',
    head_img             TEXT    NOT NULL DEFAULT '',
    user_name            TEXT    NOT NULL DEFAULT '',
    principal_name       TEXT    NOT NULL DEFAULT '',
    signature            TEXT    NOT NULL DEFAULT '',
    is_mini_program      INTEGER NOT NULL DEFAULT 0,
    status               TEXT    NOT NULL,
    permissions          TEXT    NOT NULL DEFAULT '[]',
    access_token_sealed  TEXT    NOT NULL DEFAULT '',
    token_expires_at     BIGINT  NOT NULL DEFAULT 0,
    refresh_token_sealed TEXT    NOT NULL DEFAULT '',
    merchant             TEXT    NOT NULL DEFAULT '',
    authorized_at        BIGINT  NOT NULL DEFAULT 0,
    updated_at           BIGINT  NOT NULL DEFAULT 0,
    info                 TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (component_appid, appid)
);
-- AuthorizerPlatforms: which platforms an appid authorized (push routing).
CREATE INDEX authorizers_appid ON authorizers (appid);
-- ListAuthorizers with a status filter, and its count.
CREATE INDEX authorizers_status ON authorizers (component_appid, status, appid);
-- AuthorizersDue: covering, in the order the refresher wants.
CREATE INDEX authorizers_due ON authorizers (status, token_expires_at, component_appid, appid);

CREATE TABLE events (
    -- Plain rowid (no AUTOINCREMENT: it costs a write to sqlite_sequence per
    -- commit) and no foreign key (a lookup per row): this is the ingest hot
    -- path, and only configured platforms can sign a push. Ids are never
    -- reused as long as the newest rows are never deleted (pruning deletes
    -- the oldest).
    id              INTEGER PRIMARY KEY,
    component_appid TEXT    NOT NULL,
    appid           TEXT    NOT NULL DEFAULT '',
    type            TEXT    NOT NULL DEFAULT '',
    dedup_key       TEXT    NOT NULL,
    create_time     BIGINT  NOT NULL DEFAULT 0,
    received_at     BIGINT  NOT NULL DEFAULT 0,
    payload         BLOB    NOT NULL,
    UNIQUE (component_appid, dedup_key)
);
CREATE INDEX events_appid ON events (component_appid, appid, id);
CREATE INDEX events_type ON events (component_appid, type, id);

CREATE TABLE auth_links (
    component_appid  TEXT    NOT NULL REFERENCES platforms (component_appid),
    id               TEXT    NOT NULL,
    pre_auth_code    TEXT    NOT NULL,
    merchant         TEXT    NOT NULL DEFAULT '',
    auth_type        INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL DEFAULT 0,
    expires_at       BIGINT  NOT NULL DEFAULT 0,
    authorizer_appid TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (component_appid, id)
);
CREATE INDEX auth_links_code ON auth_links (component_appid, pre_auth_code);

-- +goose Down
DROP TABLE auth_links;
DROP TABLE events;
DROP TABLE authorizers;
DROP TABLE leases;
DROP TABLE component_tokens;
DROP TABLE tickets;
DROP TABLE platforms;
