package store_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// testAppDataScoped: a merchant's scope bounds the messaging, cards and pay
// reads to its tenant's mini programs. Tenant B, asking with A's ids, gets
// ENOTFOUND or an empty list for A's conversations, consents, cards, pay
// binding, orders and notifications; the ISV's staff see both; an app moved
// to B takes its data along.
func testAppDataScoped(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	staff := wxfleet.Scope{}
	ta := &wxfleet.Tenant{Name: "A 咖啡", Status: wxfleet.TenantActive}
	tb := &wxfleet.Tenant{Name: "B 面馆", Status: wxfleet.TenantActive}
	must(t, h.CreateTenant(h.ctx, staff, ta))
	must(t, h.CreateTenant(h.ctx, staff, tb))
	scA, scB, nobody := wxfleet.Scope{TenantID: ta.ID}, wxfleet.Scope{TenantID: tb.ID}, wxfleet.Scope{TenantID: -1}
	apps := map[string]int64{"wxappa": ta.ID, "wxappb": tb.ID}
	for app, tid := range apps {
		a := fullAuthorizer("wxA", app)
		a.TenantID = tid
		must(t, h.UpsertAuthorizer(h.ctx, a))
		_, err := h.AddConversationMessage(h.ctx, &wxfleet.ConversationMessage{ComponentAppID: "wxA", AppID: app, OpenID: "oU",
			Direction: wxfleet.DirectionIn, MsgType: "text", Content: "在吗 " + app, PushKey: app + "/m:1", CreatedAt: base})
		must(t, err)
		_, err = h.ApplySubscribePopup(h.ctx, "wxA", app, "oU", app+"/popup:1", []store.ConsentChange{{TemplateID: "tmpl1", Accept: true}}, base)
		must(t, err)
		must(t, h.PutCard(h.ctx, &wxfleet.Card{ComponentAppID: "wxA", AppID: app, CardID: "p" + app, TenantID: tid,
			CardType: "GENERAL_COUPON", Title: "满100减20", CreatedAt: base}))
		sub := "16" + app
		must(t, h.BindPaySubMerchant(h.ctx, &wxfleet.PaySubMerchant{ComponentAppID: "wxA", AppID: app, SubMchID: sub, TenantID: &tid, CreatedAt: base}))
		must(t, h.CreatePayOrder(h.ctx, &wxfleet.PayOrder{ComponentAppID: "wxA", OutTradeNo: "no_" + app, SubMchID: sub, AppID: app,
			OpenID: "oU", Description: "面", Amount: 100, State: wxfleet.OrderNotPaid, CreatedAt: base}))
		_, err = h.RecordPayNotification(h.ctx, &wxfleet.PayNotification{ID: "EV-" + app, ComponentAppID: "wxA", EventType: "TRANSACTION.SUCCESS",
			TransactionID: "42" + app, OutTradeNo: "no_" + app, SubMchID: sub, TradeState: wxfleet.OrderPaid, Resource: json.RawMessage(`{}`), ReceivedAt: base}, base, nil)
		must(t, err)
	}

	// sees reports what sc reads of app's data, and fails on a read that
	// returns another app's row.
	type seen struct{ conversation, listed, messages, consents, card, cards, binding, order, orders, notifications bool }
	sees := func(sc wxfleet.Scope, app string) seen {
		t.Helper()
		var s seen
		found := func(err error) bool {
			t.Helper()
			if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
				t.Fatalf("scope %d, app %s: %v", sc.TenantID, app, err)
			}
			return err == nil
		}
		c, err := h.Conversation(h.ctx, sc, "wxA", app, "oU")
		if s.conversation = found(err); s.conversation && c.AppID != app {
			t.Fatalf("conversation of %s: %+v", app, c)
		}
		list, total, err := h.ListConversations(h.ctx, sc, "wxA", app, 10, "")
		must(t, err)
		if len(list) != total {
			t.Fatalf("scope %d, %s: %d conversations listed, total %d", sc.TenantID, app, len(list), total)
		}
		s.listed = len(list) == 1
		msgs, err := h.ConversationMessages(h.ctx, sc, "wxA", app, "oU", 0, 10)
		must(t, err)
		s.messages = len(msgs) == 1 && msgs[0].Content == "在吗 "+app
		consents, err := h.Consents(h.ctx, sc, "wxA", app, "oU")
		must(t, err)
		s.consents = len(consents) == 1
		_, err = h.Card(h.ctx, sc, "wxA", app, "p"+app)
		s.card = found(err)
		cards, err := h.Cards(h.ctx, sc, "wxA", app)
		must(t, err)
		s.cards = len(cards) == 1
		_, err = h.PaySubMerchant(h.ctx, sc, "wxA", app)
		s.binding = found(err)
		o, err := h.PayOrder(h.ctx, sc, "wxA", "16"+app, "no_"+app)
		if s.order = found(err); s.order && o.AppID != app {
			t.Fatalf("order of %s: %+v", app, o)
		}
		orders, err := h.PayOrders(h.ctx, sc, "wxA", app, 10)
		must(t, err)
		s.orders = len(orders) == 1
		ns, err := h.PayNotifications(h.ctx, sc, "wxA", "16"+app, "no_"+app)
		must(t, err)
		s.notifications = len(ns) == 1
		return s
	}
	every := seen{true, true, true, true, true, true, true, true, true, true}
	for _, c := range []struct {
		who   string
		sc    wxfleet.Scope
		app   string
		wants seen
	}{
		{"staff", staff, "wxappa", every},
		{"staff", staff, "wxappb", every},
		{"tenant A", scA, "wxappa", every},
		{"tenant A", scA, "wxappb", seen{}},
		{"tenant B", scB, "wxappb", every},
		{"tenant B", scB, "wxappa", seen{}},
		{"a merchant without a tenant", nobody, "wxappa", seen{}},
	} {
		if got := sees(c.sc, c.app); got != c.wants {
			t.Errorf("%s reading %s's data: %+v, want %+v", c.who, c.app, got, c.wants)
		}
	}
	// The platform-wide order list of a merchant holds its own tenant's only.
	for sc, want := range map[wxfleet.Scope]string{scA: "wxappa", scB: "wxappb"} {
		orders, err := h.PayOrders(h.ctx, sc, "wxA", "", 10)
		must(t, err)
		if len(orders) != 1 || orders[0].AppID != want {
			t.Errorf("tenant %d's orders: %+v, want %s's only", sc.TenantID, orders, want)
		}
	}
	if orders, _ := h.PayOrders(h.ctx, staff, "wxA", "", 10); len(orders) != 2 {
		t.Errorf("staff see %d orders, want 2", len(orders))
	}
	// So is the list of bindings.
	for sc, want := range map[wxfleet.Scope]int{scA: 1, scB: 1, staff: 2, nobody: 0} {
		list, err := h.PaySubMerchants(h.ctx, sc, "wxA")
		must(t, err)
		if len(list) != want || (want == 1 && list[0].AppID != map[wxfleet.Scope]string{scA: "wxappa", scB: "wxappb"}[sc]) {
			t.Errorf("scope %d's bindings: %+v", sc.TenantID, list)
		}
	}

	// Applications belong to the tenant named on them (tenant_id), not to
	// their app's: each tenant reads its own, by id and in the list; one
	// without a tenant is the staff's only.
	applied := map[int64]int64{} // tenant → its application's id
	for app, tid := range apps {
		a := &wxfleet.PayApplyment{ComponentAppID: "wxA", BusinessCode: "biz_" + app, AppID: app, TenantID: &tid, Shortname: "店 " + app,
			Form: json.RawMessage(`{"business_code":"biz_` + app + `"}`), State: wxfleet.ApplymentAuditing, CreatedAt: base, UpdatedAt: base}
		must(t, h.SavePayApplyment(h.ctx, a))
		applied[tid] = a.ID
	}
	orphan := &wxfleet.PayApplyment{ComponentAppID: "wxA", BusinessCode: "biz_orphan", Form: json.RawMessage(`{}`), State: wxfleet.ApplymentAuditing, CreatedAt: base, UpdatedAt: base}
	must(t, h.SavePayApplyment(h.ctx, orphan))
	for _, c := range []struct {
		who  string
		sc   wxfleet.Scope
		sees []int64 // the ids it reads, newest first
	}{
		{"staff", staff, []int64{orphan.ID, max(applied[ta.ID], applied[tb.ID]), min(applied[ta.ID], applied[tb.ID])}},
		{"tenant A", scA, []int64{applied[ta.ID]}},
		{"tenant B", scB, []int64{applied[tb.ID]}},
		{"a merchant without a tenant", nobody, nil},
	} {
		list, err := h.PayApplyments(h.ctx, c.sc, "wxA", 10)
		must(t, err)
		var got []int64
		for _, a := range list {
			got = append(got, a.ID)
		}
		if !slices.Equal(got, c.sees) {
			t.Errorf("%s lists applications %v, want %v", c.who, got, c.sees)
		}
		for _, id := range []int64{applied[ta.ID], applied[tb.ID], orphan.ID} {
			a, err := h.PayApplyment(h.ctx, c.sc, "wxA", id)
			if want := slices.Contains(c.sees, id); want != (err == nil) {
				t.Errorf("%s reads application %d: %v, want found=%v", c.who, id, err, want)
			} else if err != nil {
				wantCode(t, err, wxfleet.ENOTFOUND)
			} else if a.ID != id || len(a.Form) == 0 {
				t.Errorf("%s reads application %d: %+v", c.who, id, a)
			}
		}
	}

	// A's app moved to B: its conversations and orders go with it (the card
	// keeps the tenant it was made for, the application the tenant that applied).
	must(t, h.SetAuthorizerTenant(h.ctx, staff, "wxA", "wxappa", tb.ID))
	if _, err := h.PayApplyment(h.ctx, scB, "wxA", applied[ta.ID]); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Errorf("tenant B reads A's application after A's app moved to it: %v", err)
	}
	if _, err := h.PayApplyment(h.ctx, scA, "wxA", applied[ta.ID]); err != nil {
		t.Errorf("tenant A lost its application when its app moved: %v", err)
	}
	if got := sees(scA, "wxappa"); got.conversation || got.order || got.notifications || got.consents {
		t.Errorf("tenant A after its app moved to B: %+v", got)
	}
	if got := sees(scB, "wxappa"); !got.conversation || !got.messages || !got.order || !got.orders || !got.notifications || !got.binding {
		t.Errorf("tenant B after A's app moved to it: %+v", got)
	}
}
