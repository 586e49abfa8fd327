-- A tenant's page and its merchant read the tenant's own sub-merchant
-- applications (store.PayApplyments with a tenant's scope); this index
-- answers them without reading every application of the platform.
-- Expand-only.

-- +goose Up
CREATE INDEX pay_applyments_tenant ON pay_applyments (component_appid, tenant_id, id);

-- +goose Down
DROP INDEX pay_applyments_tenant;
