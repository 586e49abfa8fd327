-- Authorization codes already exchanged (api_query_auth), so that the push
-- and the browser callback, which both bring the same code, exchange it once:
-- the second finds the authorizer here. Only the code's SHA-256 digest is
-- kept: the code itself is worth an access token for an hour. Rows older than
-- a day are pruned (codes live an hour).

-- +goose Up
CREATE TABLE auth_code_exchanges (
    component_appid  TEXT   NOT NULL REFERENCES platforms (component_appid),
    code_sha256      TEXT   NOT NULL,
    authorizer_appid TEXT   NOT NULL,
    exchanged_at     BIGINT NOT NULL,
    PRIMARY KEY (component_appid, code_sha256)
);
CREATE INDEX auth_code_exchanges_at ON auth_code_exchanges (exchanged_at);

-- +goose Down
DROP TABLE auth_code_exchanges;
