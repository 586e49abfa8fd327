-- Subscribe-message events (issue 11): the user's 拒收 from the settings
-- (subscribe_msg_change_event) and the outcome of each delivery
-- (subscribe_msg_sent_event). Same columns on both databases; expand-only.

-- +goose Up
-- When the user set the template to 拒收 in the settings (0: they did not,
-- or accepted it again since): sends are refused until they accept anew.
ALTER TABLE subscribe_consents ADD COLUMN refused_at BIGINT NOT NULL DEFAULT 0;

-- The msgid WeChat answered to a subscribe message the platform sent.
ALTER TABLE conversation_messages ADD COLUMN wechat_msgid TEXT NOT NULL DEFAULT '';

-- What subscribe_msg_sent_event reported for a msgid. Its own table, read
-- with the message: the event may be filed before the message is stored.
CREATE TABLE subscribe_deliveries (
    component_appid TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    msgid           TEXT   NOT NULL,
    openid          TEXT   NOT NULL DEFAULT '',
    template_id     TEXT   NOT NULL DEFAULT '',
    error_code      BIGINT NOT NULL DEFAULT 0,
    error_status    TEXT   NOT NULL DEFAULT '',
    reported_at     BIGINT NOT NULL,
    PRIMARY KEY (component_appid, appid, msgid)
);

-- +goose Down
DROP TABLE subscribe_deliveries;
ALTER TABLE conversation_messages DROP COLUMN wechat_msgid;
ALTER TABLE subscribe_consents DROP COLUMN refused_at;
