-- Refunds of WeChat Pay orders (issue 11, docs/wechat-pay.md): stored before
-- WeChat Pay sees them, then its refund_id and status. Their notifications
-- (REFUND.SUCCESS …) go to pay_notifications, transaction_id holding the
-- refund_id there so that each refund's event is stored once.

-- +goose Up
CREATE TABLE pay_refunds (
    component_appid TEXT   NOT NULL REFERENCES platforms (component_appid),
    sub_mchid       TEXT   NOT NULL,
    out_refund_no   TEXT   NOT NULL,
    out_trade_no    TEXT   NOT NULL,
    appid           TEXT   NOT NULL,
    amount          BIGINT NOT NULL,
    reason          TEXT   NOT NULL DEFAULT '',
    refund_id       TEXT   NOT NULL DEFAULT '',
    status          TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    succeeded_at    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (sub_mchid, out_refund_no)
);
CREATE INDEX pay_refunds_order ON pay_refunds (component_appid, sub_mchid, out_trade_no, created_at);

-- +goose Down
DROP TABLE pay_refunds;
