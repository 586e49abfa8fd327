-- Authorization links bound to who may complete them (issue 16): the callback
-- carries a per-link state whose digest is kept here, a link started from the
-- public page is also bound to that browser (a cookie), and the callback
-- claims the link once, before any WeChat call. The pre_auth_code is kept
-- sealed so that a second click within its lifetime reuses it instead of
-- asking WeChat for another; code_expires_at is its lifetime, expires_at the
-- link's own (an operator's link outlives many codes). Same on both databases.

-- +goose Up
ALTER TABLE auth_links ADD COLUMN state_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_links ADD COLUMN browser_bound INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_links ADD COLUMN claimed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE auth_links ADD COLUMN pre_auth_code_sealed TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_links ADD COLUMN code_expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE auth_links SET code_expires_at = expires_at;

-- +goose Down
ALTER TABLE auth_links DROP COLUMN code_expires_at;
ALTER TABLE auth_links DROP COLUMN pre_auth_code_sealed;
ALTER TABLE auth_links DROP COLUMN claimed_at;
ALTER TABLE auth_links DROP COLUMN browser_bound;
ALTER TABLE auth_links DROP COLUMN state_sha256;
