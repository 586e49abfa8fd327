-- Templates, per-authorizer settings and tags, and rollouts (issue: code
-- templates and fleet rollouts). Same tables and columns on both databases.

-- +goose Up
-- The template library as WeChat lists it, plus the ext_json template every
-- authorizer's commit is rendered from.
CREATE TABLE templates (
    component_appid TEXT    NOT NULL REFERENCES platforms (component_appid),
    template_id     BIGINT  NOT NULL,
    draft_id        BIGINT  NOT NULL DEFAULT 0,
    user_version    TEXT    NOT NULL DEFAULT '',
    user_desc       TEXT    NOT NULL DEFAULT '',
    template_type   INTEGER NOT NULL DEFAULT 0,
    create_time     BIGINT  NOT NULL DEFAULT 0,
    ext_json        TEXT    NOT NULL DEFAULT '',
    notes           TEXT    NOT NULL DEFAULT '',
    synced_at       BIGINT  NOT NULL DEFAULT 0,
    deleted_at      BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (component_appid, template_id)
);

-- What an authorizer's ext_json is rendered with (${settings.KEY}).
CREATE TABLE authorizer_settings (
    component_appid TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    settings        TEXT   NOT NULL DEFAULT '{}',
    updated_at      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (component_appid, appid),
    FOREIGN KEY (component_appid, appid) REFERENCES authorizers (component_appid, appid)
);

-- Tags choose rollout targets.
CREATE TABLE authorizer_tags (
    component_appid TEXT NOT NULL,
    appid           TEXT NOT NULL,
    tag             TEXT NOT NULL,
    PRIMARY KEY (component_appid, appid, tag),
    FOREIGN KEY (component_appid, appid) REFERENCES authorizers (component_appid, appid)
);
CREATE INDEX authorizer_tags_tag ON authorizer_tags (component_appid, tag, appid);

CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component_appid   TEXT    NOT NULL REFERENCES platforms (component_appid),
    template_id       BIGINT  NOT NULL,
    user_version      TEXT    NOT NULL DEFAULT '',
    user_desc         TEXT    NOT NULL DEFAULT '',
    targets           TEXT    NOT NULL DEFAULT '{}',
    release_mode      TEXT    NOT NULL,
    gray_percentage   INTEGER NOT NULL DEFAULT 0,
    batch_size        INTEGER NOT NULL,
    max_failure_ratio REAL NOT NULL,
    status            TEXT    NOT NULL,
    status_reason     TEXT    NOT NULL DEFAULT '',
    cohort            INTEGER NOT NULL DEFAULT 0,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);
CREATE INDEX rollouts_list ON rollouts (component_appid, id);

-- One row per mini program of a rollout. commit_sent_at / submit_sent_at are
-- written before the call they stand for: a crash after it leaves the outcome
-- unknown, and the next attempt asks WeChat instead of calling again.
CREATE TABLE rollout_apps (
    rollout_id      BIGINT  NOT NULL REFERENCES rollouts (id),
    component_appid TEXT    NOT NULL,
    appid           TEXT    NOT NULL,
    cohort          INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    audit_id        BIGINT  NOT NULL DEFAULT 0,
    reason          TEXT    NOT NULL DEFAULT '',
    screenshot      TEXT    NOT NULL DEFAULT '',
    last_errcode    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    commit_sent_at  BIGINT  NOT NULL DEFAULT 0,
    submit_sent_at  BIGINT  NOT NULL DEFAULT 0,
    updated_at      BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, appid)
);
-- Counts per state, and the apps of one cohort.
CREATE INDEX rollout_apps_state ON rollout_apps (rollout_id, cohort, state);
-- An audit push names only the mini program: find its rollouts.
CREATE INDEX rollout_apps_appid ON rollout_apps (component_appid, appid, state);

-- +goose Down
DROP TABLE rollout_apps;
DROP TABLE rollouts;
DROP TABLE authorizer_tags;
DROP TABLE authorizer_settings;
DROP TABLE templates;
