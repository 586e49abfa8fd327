-- WeChat Pay in service-provider mode (issue 11, docs/wechat-pay.md): a
-- platform's provider merchant and its keys (the private key and the APIv3
-- key sealed by the vault, bound to the row), sub-merchant applications
-- (特约商户进件; the form sealed), the mini programs bound to sub-merchants,
-- partner JSAPI orders, and payment notifications stored before they are
-- acknowledged, once each. tenant_id is a plain integer for the tenants
-- feature to fill; nothing references it yet.

-- +goose Up
CREATE TABLE pay_merchants (
    component_appid    TEXT   PRIMARY KEY REFERENCES platforms (component_appid),
    sp_mchid           TEXT   NOT NULL,
    sp_appid           TEXT   NOT NULL,
    cert_serial        TEXT   NOT NULL,
    private_key_sealed TEXT   NOT NULL,
    apiv3_key_sealed   TEXT   NOT NULL,
    public_key_id      TEXT   NOT NULL,
    public_key         TEXT   NOT NULL,
    base_url           TEXT   NOT NULL DEFAULT '',
    notify_url         TEXT   NOT NULL DEFAULT '',
    updated_at         BIGINT NOT NULL
);

CREATE TABLE pay_applyments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component_appid   TEXT   NOT NULL REFERENCES platforms (component_appid),
    business_code     TEXT   NOT NULL,
    appid             TEXT   NOT NULL DEFAULT '',
    tenant_id         BIGINT,
    shortname         TEXT   NOT NULL DEFAULT '',
    form_sealed       TEXT   NOT NULL,
    applyment_id      BIGINT NOT NULL DEFAULT 0,
    state             TEXT   NOT NULL DEFAULT '',
    state_msg         TEXT   NOT NULL DEFAULT '',
    audit_detail      TEXT   NOT NULL DEFAULT '[]',
    sign_url          TEXT   NOT NULL DEFAULT '',
    sub_mchid         TEXT   NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (component_appid, business_code)
);

CREATE TABLE pay_sub_merchants (
    component_appid TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    sub_mchid       TEXT   NOT NULL,
    tenant_id       BIGINT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (component_appid, appid),
    FOREIGN KEY (component_appid, appid) REFERENCES authorizers (component_appid, appid)
);

CREATE TABLE pay_orders (
    component_appid TEXT   NOT NULL REFERENCES platforms (component_appid),
    sub_mchid       TEXT   NOT NULL,
    out_trade_no    TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    openid          TEXT   NOT NULL,
    description     TEXT   NOT NULL,
    amount          BIGINT NOT NULL,
    state           TEXT   NOT NULL,
    prepay_id       TEXT   NOT NULL DEFAULT '',
    transaction_id  TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    paid_at         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (sub_mchid, out_trade_no)
);
CREATE INDEX pay_orders_app ON pay_orders (component_appid, appid, created_at);

CREATE TABLE pay_notifications (
    id              TEXT   PRIMARY KEY,
    component_appid TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    transaction_id  TEXT   NOT NULL,
    out_trade_no    TEXT   NOT NULL,
    sub_mchid       TEXT   NOT NULL,
    trade_state     TEXT   NOT NULL,
    resource        TEXT   NOT NULL,
    received_at     BIGINT NOT NULL,
    UNIQUE (event_type, transaction_id)
);

-- +goose Down
DROP TABLE pay_notifications;
DROP TABLE pay_orders;
DROP TABLE pay_sub_merchants;
DROP TABLE pay_applyments;
DROP TABLE pay_merchants;
