-- Tenants (租户), plans (套餐) and subscriptions (issue 10). A tenant is a
-- customer of the ISV; its mini programs are the authorizers whose tenant_id
-- names it, and an authorization link made for it carries the tenant, so
-- the mini program authorized through it lands there. Same tables and
-- columns on both databases.
--
-- The columns added to authorizers and auth_links carry no REFERENCES
-- clause: SQLite cannot drop a column that takes part in a foreign key, and
-- the down migration must; the store checks the tenant exists where it sets
-- one (tenants are closed, never deleted).

-- +goose Up
CREATE TABLE plans (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL,
    yearly_price      BIGINT  NOT NULL DEFAULT 0,
    max_mini_programs INTEGER NOT NULL DEFAULT 0,
    features          TEXT    NOT NULL DEFAULT '[]',
    created_at        BIGINT  NOT NULL DEFAULT 0,
    updated_at        BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT   NOT NULL,
    contact    TEXT   NOT NULL DEFAULT '',
    status     TEXT   NOT NULL,
    plan_id    BIGINT REFERENCES plans (id),
    settings   TEXT   NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL DEFAULT 0
);
-- ListTenants by status, in id order (keyset pages).
CREATE INDEX tenants_status ON tenants (status, id);

CREATE TABLE tenant_tags (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    tag       TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, tag)
);
-- ListTenants by tag, and rollout targets by tag.
CREATE INDEX tenant_tags_tag ON tenant_tags (tag, tenant_id);

-- A tenant's current term. Renewing moves expires_at.
CREATE TABLE subscriptions (
    tenant_id  BIGINT  NOT NULL PRIMARY KEY REFERENCES tenants (id),
    plan_id    BIGINT  NOT NULL REFERENCES plans (id),
    starts_at  BIGINT  NOT NULL DEFAULT 0,
    expires_at BIGINT  NOT NULL,
    renewals   INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT  NOT NULL DEFAULT 0
);
-- The expiry job's work lists: terms ending within a window.
CREATE INDEX subscriptions_expiry ON subscriptions (expires_at, tenant_id);

-- Reminders and expiry steps done, one row per tenant, term and kind
-- (30d, 7d, 1d, expired, suspended): each is sent once per term, and a
-- renewed term (another expires_at) gets its own.
CREATE TABLE subscription_reminders (
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    expires_at BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    sent_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, expires_at, kind)
);

ALTER TABLE authorizers ADD COLUMN tenant_id BIGINT;
-- A tenant's mini programs (its page, plan limits, rollout tags).
CREATE INDEX authorizers_tenant ON authorizers (tenant_id, component_appid, appid);
ALTER TABLE auth_links ADD COLUMN tenant_id BIGINT;

-- +goose Down
DROP INDEX authorizers_tenant;
ALTER TABLE auth_links DROP COLUMN tenant_id;
ALTER TABLE authorizers DROP COLUMN tenant_id;
DROP TABLE subscription_reminders;
DROP TABLE subscriptions;
DROP TABLE tenant_tags;
DROP TABLE tenants;
DROP TABLE plans;
