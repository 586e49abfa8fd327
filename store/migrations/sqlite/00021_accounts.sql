-- Accounts, API tokens and the audit log (issue 10, "Tenants and people").
-- tenant_id is a plain integer without a foreign key: the tenants table is
-- another migration's (00020), and a merchant account names its tenant the
-- same way before and after it exists. Same tables and columns on both
-- databases.

-- +goose Up
-- People who sign in: the ISV's staff (tenant_id 0) and merchant users
-- (role merchant, one tenant). Only the argon2id hash of a password is kept.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email               TEXT    NOT NULL UNIQUE,
    name                TEXT    NOT NULL DEFAULT '',
    role                TEXT    NOT NULL CHECK (role IN ('owner', 'operator', 'viewer', 'merchant')),
    tenant_id           BIGINT  NOT NULL DEFAULT 0,
    password_hash       TEXT    NOT NULL,
    disabled            INTEGER NOT NULL DEFAULT 0,
    credentials_version BIGINT  NOT NULL DEFAULT 1,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    password_changed_at BIGINT  NOT NULL,
    CHECK ((role = 'merchant' AND tenant_id > 0) OR (role <> 'merchant' AND tenant_id = 0))
);
CREATE INDEX accounts_tenant ON accounts (tenant_id, id);

-- A console session belongs to an account (0: signed in with the admin
-- token) and to the account's credentials at sign-in.
ALTER TABLE console_sessions ADD COLUMN account_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_sessions ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX console_sessions_account ON console_sessions (account_id);

-- API tokens: the SHA-256 of the token, never the token.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT NOT NULL DEFAULT 0,
    name         TEXT   NOT NULL,
    role         TEXT   NOT NULL CHECK (role IN ('owner', 'operator', 'viewer', 'merchant')),
    tenant_id    BIGINT NOT NULL DEFAULT 0,
    token_sha256 TEXT   NOT NULL UNIQUE,
    prefix       TEXT   NOT NULL,
    created_by   TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_account ON api_tokens (account_id, id);

-- Who did what, when, to which tenant and mini program. Append only.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at               BIGINT NOT NULL,
    actor_id         BIGINT NOT NULL DEFAULT 0,
    actor_name       TEXT   NOT NULL DEFAULT '',
    via              TEXT   NOT NULL DEFAULT '',
    action           TEXT   NOT NULL,
    tenant_id        BIGINT NOT NULL DEFAULT 0,
    component_appid  TEXT   NOT NULL DEFAULT '',
    appid            TEXT   NOT NULL DEFAULT '',
    target           TEXT   NOT NULL DEFAULT '',
    detail           TEXT   NOT NULL DEFAULT '{}',
    client_ip        TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor_name, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE api_tokens;
DROP INDEX console_sessions_account;
ALTER TABLE console_sessions DROP COLUMN credentials_version;
ALTER TABLE console_sessions DROP COLUMN account_id;
DROP TABLE accounts;
