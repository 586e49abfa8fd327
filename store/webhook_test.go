package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

func TestWebhookStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		dsn := b.DSN(t)
		st := storetest.Migrated(t, dsn, storetest.NewVault(t))
		for _, p := range []string{"wxA", "wxB"} {
			must(t, st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: p, Name: p, Token: "t", AESKey: wxfleet.Secret(strings.Repeat("k", 43)), Secret: "s"}))
		}
		all, t7, t8 := wxfleet.Scope{}, wxfleet.Scope{TenantID: 7}, wxfleet.Scope{TenantID: 8}
		mk := func(id, comp string, tenant int64, events ...string) *wxfleet.WebhookEndpoint {
			return &wxfleet.WebhookEndpoint{ID: id, ComponentAppID: comp, TenantID: tenant, URL: "https://example.com/" + id,
				Events: events, Secret: wxfleet.Secret("PLAIN-secret-" + id), CreatedAt: base, UpdatedAt: base}
		}
		must(t, st.CreateWebhookEndpoint(ctx, all, mk("wh_1", "wxA", 0, "*")))
		must(t, st.CreateWebhookEndpoint(ctx, t7, mk("wh_2", "wxA", 7, "audit.fail")))
		must(t, st.CreateWebhookEndpoint(ctx, all, mk("wh_3", "wxB", 0, "*")))
		// A tenant's user creates for its own tenant only.
		wantCode(t, st.CreateWebhookEndpoint(ctx, t7, mk("wh_4", "wxA", 8, "*")), wxfleet.EFORBIDDEN)
		wantCode(t, st.CreateWebhookEndpoint(ctx, t7, mk("wh_5", "wxA", 0, "*")), wxfleet.EFORBIDDEN)
		wantCode(t, st.CreateWebhookEndpoint(ctx, all, mk("wh_6", "wxNone", 0, "*")), wxfleet.ENOTFOUND)

		got, err := st.WebhookEndpoint(ctx, all, "wxA", "wh_2")
		must(t, err)
		if got.Secret.Reveal() != "PLAIN-secret-wh_2" || got.TenantID != 7 || len(got.Events) != 1 || !got.Wants("audit.fail") || got.Wants("audit.success") {
			t.Fatalf("round trip: %+v", got)
		}
		// Scoped reads: tenant 8 sees none of it; tenant 7 its own; another platform nothing.
		_, err = st.WebhookEndpoint(ctx, t8, "wxA", "wh_2")
		wantCode(t, err, wxfleet.ENOTFOUND)
		_, err = st.WebhookEndpoint(ctx, t7, "wxA", "wh_1")
		wantCode(t, err, wxfleet.ENOTFOUND)
		_, err = st.WebhookEndpoint(ctx, all, "wxB", "wh_1")
		wantCode(t, err, wxfleet.ENOTFOUND)
		list, err := st.ListWebhookEndpoints(ctx, all, "wxA", "", 0)
		must(t, err)
		if len(list) != 2 || list[0].ID != "wh_1" || list[1].ID != "wh_2" {
			t.Fatalf("list: %v", list)
		}
		if page, _ := st.ListWebhookEndpoints(ctx, all, "wxA", "wh_1", 0); len(page) != 1 || page[0].ID != "wh_2" {
			t.Fatalf("page after wh_1: %v", page)
		}
		if l7, _ := st.ListWebhookEndpoints(ctx, t7, "wxA", "", 0); len(l7) != 1 || l7[0].ID != "wh_2" {
			t.Fatalf("tenant 7's list: %v", l7)
		}
		// Writes are scoped too.
		got.URL, got.Disabled = "https://example.com/changed", true
		wantCode(t, st.UpdateWebhookEndpoint(ctx, t8, got), wxfleet.ENOTFOUND)
		wantCode(t, st.SetWebhookSecret(ctx, t8, "wxA", "wh_2", "x", base), wxfleet.ENOTFOUND)
		wantCode(t, st.DeleteWebhookEndpoint(ctx, t8, "wxA", "wh_2"), wxfleet.ENOTFOUND)
		must(t, st.UpdateWebhookEndpoint(ctx, t7, got))
		must(t, st.SetWebhookSecret(ctx, all, "wxA", "wh_2", "PLAIN-rotated", base))
		got, err = st.WebhookEndpoint(ctx, t7, "wxA", "wh_2")
		must(t, err)
		if got.URL != "https://example.com/changed" || !got.Disabled || got.Secret.Reveal() != "PLAIN-rotated" {
			t.Fatalf("after update: %+v", got)
		}
		// wh_2 (audit.fail) is disabled now: only wh_1 ("*") counts.
		if ok, _ := st.HasWebhookEndpoints(ctx, "wxA", "release.done"); !ok {
			t.Fatal("wxA has an enabled endpoint for every type")
		}
		got.Events = []string{"audit.fail"}
		must(t, st.UpdateWebhookEndpoint(ctx, t7, got))
		must(t, st.DeleteWebhookEndpoint(ctx, all, "wxB", "wh_3"))
		if ok, _ := st.HasWebhookEndpoints(ctx, "wxB", "release.done"); ok {
			t.Fatal("wxB has no endpoint left")
		}

		got.Disabled = false
		must(t, st.UpdateWebhookEndpoint(ctx, all, got))

		// Emission: endpoints for a tenant's event, outbox, deliveries.
		must(t, st.InTx(ctx, func(tx *store.Tx) error {
			eps, err := tx.WebhookEndpointsFor(ctx, "wxA", 7)
			must(t, err)
			if len(eps) != 2 {
				t.Fatalf("endpoints for tenant 7: %v", eps)
			}
			if eps, _ := tx.WebhookEndpointsFor(ctx, "wxA", 8); len(eps) != 1 || eps[0].ID != "wh_1" {
				t.Fatalf("endpoints for tenant 8: %v", eps)
			}
			ev := &wxfleet.WebhookEvent{ID: "evt_1", ComponentAppID: "wxA", Type: "audit.fail", AppID: "wx1", TenantID: 7, Payload: []byte(`{"id":"evt_1"}`), CreatedAt: base}
			ok, err := tx.InsertWebhookEvent(ctx, ev)
			must(t, err)
			again, err := tx.InsertWebhookEvent(ctx, ev)
			must(t, err)
			if !ok || again {
				t.Fatalf("insert event: %v, again %v", ok, again)
			}
			tenant, err := tx.AuthorizerTenant(ctx, "wxA", "wx-unknown")
			must(t, err)
			if tenant != 0 {
				t.Fatalf("tenant of an unknown app: %d", tenant)
			}
			return tx.InsertWebhookDeliveries(ctx, []*wxfleet.WebhookDelivery{
				{ID: "dlv_01", EndpointID: "wh_1", ComponentAppID: "wxA", EventID: "evt_1", EventType: "audit.fail", CreatedAt: base},
				{ID: "dlv_02", EndpointID: "wh_2", ComponentAppID: "wxA", TenantID: 7, EventID: "evt_1", EventType: "audit.fail", CreatedAt: base},
			})
		}))
		n, err := st.RecordWebhookAttempt(ctx, "dlv_02", wxfleet.WebhookAttempt{StatusCode: 500, Error: "HTTP 500", Duration: 12 * time.Millisecond, At: base}, wxfleet.DeliveryPending)
		must(t, err)
		n2, err := st.RecordWebhookAttempt(ctx, "dlv_02", wxfleet.WebhookAttempt{StatusCode: 200, At: base.Add(time.Minute)}, wxfleet.DeliveryDelivered)
		must(t, err)
		if n != 1 || n2 != 2 {
			t.Fatalf("attempt numbers %d %d", n, n2)
		}
		_, err = st.RecordWebhookAttempt(ctx, "dlv_02", wxfleet.WebhookAttempt{At: base}, wxfleet.DeliveryDead)
		wantCode(t, err, wxfleet.ENOTFOUND) // delivered: no more attempts
		d, ev, err := st.WebhookDelivery(ctx, t7, "wxA", "dlv_02")
		must(t, err)
		if d.Status != wxfleet.DeliveryDelivered || d.Attempts != 2 || len(d.AttemptLog) != 2 || d.AttemptLog[0].Duration != 12*time.Millisecond ||
			!d.DeliveredAt.Equal(base.Add(time.Minute)) || string(ev.Payload) != `{"id":"evt_1"}` {
			t.Fatalf("delivery %+v, event %+v", d, ev)
		}
		_, _, err = st.WebhookDelivery(ctx, t8, "wxA", "dlv_02")
		wantCode(t, err, wxfleet.ENOTFOUND)
		if l, _ := st.ListWebhookDeliveries(ctx, t7, "wxA", store.WebhookDeliveryFilter{}); len(l) != 1 || l[0].ID != "dlv_02" {
			t.Fatalf("tenant 7's deliveries: %v", l)
		}
		if l, _ := st.ListWebhookDeliveries(ctx, all, "wxA", store.WebhookDeliveryFilter{Status: wxfleet.DeliveryPending}); len(l) != 1 || l[0].ID != "dlv_01" {
			t.Fatalf("pending deliveries: %v", l)
		}
		if l, _ := st.ListWebhookDeliveries(ctx, all, "wxA", store.WebhookDeliveryFilter{Cursor: "dlv_02"}); len(l) != 1 || l[0].ID != "dlv_01" {
			t.Fatalf("deliveries before dlv_02: %v", l)
		}
		// Redelivery: a pending one conflicts; a delivered one goes back to pending with its job.
		ran := false
		wantCode(t, st.RedeliverWebhook(ctx, all, "wxA", "dlv_01", base, nil), wxfleet.ECONFLICT)
		wantCode(t, st.RedeliverWebhook(ctx, t8, "wxA", "dlv_02", base, nil), wxfleet.ENOTFOUND)
		must(t, st.RedeliverWebhook(ctx, t7, "wxA", "dlv_02", base, func(ctx context.Context, tx *sql.Tx) error { ran = true; return nil }))
		if d, _, _ := st.WebhookDelivery(ctx, all, "wxA", "dlv_02"); !ran || d.Status != wxfleet.DeliveryPending {
			t.Fatalf("after redeliver: %+v, then ran %v", d, ran)
		}
		// Work reads by id; deleting the endpoint takes its deliveries along.
		if _, e, _, err := st.WebhookDeliveryWork(ctx, "dlv_01"); err != nil || e.ID != "wh_1" || e.Secret.Reveal() != "PLAIN-secret-wh_1" {
			t.Fatalf("work: %+v %v", e, err)
		}
		must(t, st.DeleteWebhookEndpoint(ctx, t7, "wxA", "wh_2"))
		_, _, _, err = st.WebhookDeliveryWork(ctx, "dlv_02")
		wantCode(t, err, wxfleet.ENOTFOUND)

		// Pruning keeps an event with a delivery pending, then takes it with its log.
		if n, err := st.PruneWebhookEvents(ctx, base.Add(time.Hour), 0); err != nil || n != 0 {
			t.Fatalf("prune with a pending delivery: %d %v", n, err)
		}
		_, err = st.RecordWebhookAttempt(ctx, "dlv_01", wxfleet.WebhookAttempt{StatusCode: 500, At: base}, wxfleet.DeliveryDead)
		must(t, err)
		if n, err := st.PruneWebhookEvents(ctx, base, 0); err != nil || n != 0 {
			t.Fatalf("prune of nothing that old: %d %v", n, err)
		}
		if n, err := st.PruneWebhookEvents(ctx, base.Add(time.Hour), 0); err != nil || n != 1 {
			t.Fatalf("prune: %d %v", n, err)
		}
		_, _, _, err = st.WebhookDeliveryWork(ctx, "dlv_01")
		wantCode(t, err, wxfleet.ENOTFOUND)

		// The secrets rest sealed.
		var sealed string
		must(t, st.WriteDB().QueryRowContext(ctx, `SELECT secret_sealed FROM webhook_endpoints WHERE id = 'wh_1'`).Scan(&sealed))
		if strings.Contains(sealed, "PLAIN") || !strings.HasPrefix(sealed, "v2:") {
			t.Fatalf("secret at rest: %q", sealed)
		}
	})
}
