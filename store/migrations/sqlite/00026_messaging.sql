-- Capabilities (issue 11): customer-service conversations (客服) and
-- subscribe messages (订阅消息). Same tables and columns on both databases
-- but for the generated ids. No foreign key to authorizers: a push is stored
-- whatever it names, and its handler must not fail on it.

-- +goose Up
-- One user's session with one mini program; last_user_at starts WeChat's
-- 48-hour reply window.
CREATE TABLE conversations (
    component_appid TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    openid          TEXT   NOT NULL,
    last_user_at    BIGINT NOT NULL DEFAULT 0,
    last_message_at BIGINT NOT NULL DEFAULT 0,
    last_preview    TEXT   NOT NULL DEFAULT '',
    messages        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (component_appid, appid, openid)
);
CREATE INDEX conversations_recent ON conversations (component_appid, appid, last_message_at, openid);

CREATE TABLE conversation_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component_appid TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    openid          TEXT   NOT NULL,
    direction       TEXT   NOT NULL,
    msgtype         TEXT   NOT NULL,
    content         TEXT   NOT NULL DEFAULT '',
    media_id        TEXT   NOT NULL DEFAULT '',
    push_key        TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX conversation_messages_by_user ON conversation_messages (component_appid, appid, openid, id);

-- The pushes this feature already applied, by appid and the push's dedup
-- key (as the events table knows them): WeChat's retries, and a push handled
-- again after a failure, change nothing twice.
CREATE TABLE messaging_pushes (
    component_appid TEXT NOT NULL,
    push_key        TEXT NOT NULL,
    PRIMARY KEY (component_appid, push_key)
);

-- A mini program's subscribe templates, as WeChat's gettemplate lists them.
CREATE TABLE subscribe_templates (
    component_appid TEXT    NOT NULL,
    appid           TEXT    NOT NULL,
    template_id     TEXT    NOT NULL,
    tid             BIGINT  NOT NULL DEFAULT 0,
    title           TEXT    NOT NULL DEFAULT '',
    content         TEXT    NOT NULL DEFAULT '',
    example         TEXT    NOT NULL DEFAULT '',
    type            INTEGER NOT NULL DEFAULT 2,
    synced_at       BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (component_appid, appid, template_id)
);

-- What each user granted each template (subscribe_msg_popup_event).
CREATE TABLE subscribe_consents (
    component_appid TEXT    NOT NULL,
    appid           TEXT    NOT NULL,
    openid          TEXT    NOT NULL,
    template_id     TEXT    NOT NULL,
    remaining       BIGINT  NOT NULL DEFAULT 0,
    long_term       INTEGER NOT NULL DEFAULT 0,
    updated_at      BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (component_appid, appid, openid, template_id)
);

-- Fleet-wide applies: one library template added to many mini programs.
CREATE TABLE subscribe_applies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component_appid TEXT   NOT NULL,
    tid             BIGINT NOT NULL,
    kid_list        TEXT   NOT NULL DEFAULT '[]',
    scene_desc      TEXT   NOT NULL DEFAULT '',
    keywords        TEXT   NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL
);
CREATE TABLE subscribe_apply_apps (
    apply_id    BIGINT NOT NULL REFERENCES subscribe_applies (id),
    appid       TEXT   NOT NULL,
    status      TEXT   NOT NULL DEFAULT 'pending',
    template_id TEXT   NOT NULL DEFAULT '',
    error       TEXT   NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (apply_id, appid)
);

-- +goose Down
DROP TABLE subscribe_apply_apps;
DROP TABLE subscribe_applies;
DROP TABLE subscribe_consents;
DROP TABLE subscribe_templates;
DROP TABLE messaging_pushes;
DROP TABLE conversation_messages;
DROP TABLE conversations;
