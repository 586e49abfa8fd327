-- Runtime sessions (issue 10): a mini-program user who logged in through
-- POST /runtime/v1/login. The database keeps only the SHA-256 digest of the
-- session token (the token itself lives in the mini program's storage) and
-- the user's session_key sealed by the vault, bound to its row. Same on both
-- databases.

-- +goose Up
CREATE TABLE runtime_sessions (
    token_digest       TEXT   PRIMARY KEY,
    component_appid    TEXT   NOT NULL,
    appid              TEXT   NOT NULL,
    openid             TEXT   NOT NULL,
    unionid            TEXT   NOT NULL DEFAULT '',
    session_key_sealed TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    FOREIGN KEY (component_appid, appid) REFERENCES authorizers (component_appid, appid)
);
CREATE INDEX runtime_sessions_expiry ON runtime_sessions (expires_at);
CREATE INDEX runtime_sessions_user ON runtime_sessions (component_appid, appid, openid);

-- +goose Down
DROP TABLE runtime_sessions;
