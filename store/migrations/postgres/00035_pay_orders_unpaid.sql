-- The pay reconciliation job asks every minute for the orders still unpaid
-- in a window of creation times (store.UnpaidPayOrders); without this index
-- that was a scan of every order ever taken. Expand-only.

-- +goose Up
CREATE INDEX pay_orders_state_created ON pay_orders (state, created_at);

-- +goose Down
DROP INDEX pay_orders_state_created;
