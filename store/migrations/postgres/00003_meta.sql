-- meta keeps facts about the installation itself, one value per key: for
-- now the fingerprint of the master key the secrets are sealed with
-- (see Store.CheckVaultKey). (Version 2 is a Go migration: migrate.go.)

-- +goose Up
CREATE TABLE meta (
    key        TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE meta;
