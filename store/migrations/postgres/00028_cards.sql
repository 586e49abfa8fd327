-- Cards and coupons (卡券, issue 11): the card classes the platform created
-- for an official account, their review as WeChat pushed it, and the codes
-- users received (user_get_card) and redeemed (user_consume_card or our own
-- consume call). tenant_id is the merchant the card was made for, NULL when
-- none was named. Pushes are applied idempotently: a code is its card's key,
-- a second consume keeps the first time. Same on both databases.

-- +goose Up
CREATE TABLE cards (
    component_appid TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    card_id         TEXT   NOT NULL,
    tenant_id       BIGINT,
    card_type       TEXT   NOT NULL DEFAULT '',
    title           TEXT   NOT NULL DEFAULT '',
    review_status   TEXT   NOT NULL DEFAULT 'pending',
    refuse_reason   TEXT   NOT NULL DEFAULT '',
    reviewed_at     BIGINT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (component_appid, appid, card_id),
    FOREIGN KEY (component_appid, appid) REFERENCES authorizers (component_appid, appid)
);
CREATE INDEX cards_tenant ON cards (tenant_id);

CREATE TABLE card_codes (
    component_appid TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    card_id         TEXT   NOT NULL,
    code            TEXT   NOT NULL,
    openid          TEXT   NOT NULL DEFAULT '',
    received_at     BIGINT NOT NULL,
    consumed_at     BIGINT,
    consume_source  TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (component_appid, appid, card_id, code)
);

-- +goose Down
DROP TABLE card_codes;
DROP TABLE cards;
