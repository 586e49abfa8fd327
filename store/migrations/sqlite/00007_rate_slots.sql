-- Cluster-wide pacing of calls to WeChat (rollouts): one row per budget, the
-- next free slot in unix milliseconds. Several instances reserve slots in
-- one statement each, so together they never exceed the rate.

-- +goose Up
CREATE TABLE rate_slots (
    name    TEXT   PRIMARY KEY,
    next_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE rate_slots;
