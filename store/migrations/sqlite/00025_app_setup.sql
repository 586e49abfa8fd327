-- Rollout app setup (issue 9): a template's domain and privacy policy, fleet
-- actions (a policy, testers) applied to many mini programs the way a
-- rollout is, and the mini programs WeChat refuses to take submissions from.
-- Same tables and columns on both databases.

-- +goose Up
-- JSON of wxfleet.TemplatePolicy; '' declares nothing.
ALTER TABLE templates ADD COLUMN policy TEXT NOT NULL DEFAULT '';

CREATE TABLE fleet_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component_appid TEXT    NOT NULL REFERENCES platforms (component_appid),
    kind            TEXT    NOT NULL,
    template_id     BIGINT  NOT NULL DEFAULT 0,
    wechatid        TEXT    NOT NULL DEFAULT '',
    userstr         TEXT    NOT NULL DEFAULT '',
    targets         TEXT    NOT NULL DEFAULT '{}',
    status          TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX fleet_actions_list ON fleet_actions (component_appid, id);

CREATE TABLE fleet_action_apps (
    action_id       BIGINT  NOT NULL REFERENCES fleet_actions (id),
    component_appid TEXT    NOT NULL,
    appid           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    result          TEXT    NOT NULL DEFAULT '',
    last_errcode    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    updated_at      BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (action_id, appid)
);
CREATE INDEX fleet_action_apps_state ON fleet_action_apps (action_id, state);

-- A mini program WeChat refused a submission for (86007: 小程序禁止提交): a
-- dry run and a rollout skip it until an operator clears the hold.
CREATE TABLE app_holds (
    component_appid TEXT    NOT NULL,
    appid           TEXT    NOT NULL,
    errcode         INTEGER NOT NULL,
    reason          TEXT    NOT NULL DEFAULT '',
    held_at         BIGINT  NOT NULL,
    PRIMARY KEY (component_appid, appid)
);

-- +goose Down
DROP TABLE app_holds;
DROP TABLE fleet_action_apps;
DROP TABLE fleet_actions;
ALTER TABLE templates DROP COLUMN policy;
