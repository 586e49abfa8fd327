package server

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/wxfleet/wxfleet/tenant"
	"github.com/wxfleet/wxfleet/webhook"
)

// tenantNotices sends the tenants' expiry notices (subscription.expiring,
// subscription.expired, tenant.suspended) out as webhook events, in the
// transaction that records them. A notice recorded once is one event: its
// id is made of the tenant, the term's end and the reminder window.
type tenantNotices struct{ w *webhook.Service }

func (n tenantNotices) Notify(ctx context.Context, tx *sql.Tx, nt tenant.Notice) error {
	id := webhook.EventID(nt.Kind, strconv.FormatInt(nt.TenantID, 10), fmt.Sprint(nt.Data["expires_at"]), fmt.Sprint(nt.Data["window"]))
	return n.w.Emit(ctx, tx, webhook.Event{ID: id, Type: nt.Kind, TenantID: nt.TenantID, Data: nt.Data})
}
