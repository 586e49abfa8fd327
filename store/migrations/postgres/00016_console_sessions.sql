-- Console sessions (issue 16): a login makes a random session id, and the
-- database keeps only its keyed digest, so logging out ends that session and
-- a copied database opens none. Same on both databases.

-- +goose Up
CREATE TABLE console_sessions (
    id_digest   TEXT   PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
