package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

func testConversations(t *testing.T, h *harness) {
	in := func(comp, app, openid, content string, event int, at time.Time) *wxfleet.ConversationMessage {
		return &wxfleet.ConversationMessage{ComponentAppID: comp, AppID: app, OpenID: openid, Direction: wxfleet.DirectionIn,
			MsgType: "text", Content: content, PushKey: fmt.Sprint(app, "/m:", event), CreatedAt: at}
	}
	add := func(m *wxfleet.ConversationMessage) bool {
		t.Helper()
		ok, err := h.AddConversationMessage(h.ctx, m)
		must(t, err)
		return ok
	}
	if !add(in("wxA", "wx1", "oU1", "在吗", 7, base)) {
		t.Fatal("first message not added")
	}
	// The same push again (a retry, a handler run twice) changes nothing.
	if add(in("wxA", "wx1", "oU1", "在吗", 7, base)) {
		t.Fatal("the same push was added twice")
	}
	add(in("wxA", "wx1", "oU2", "你好", 8, base.Add(time.Minute)))
	out := &wxfleet.ConversationMessage{ComponentAppID: "wxA", AppID: "wx1", OpenID: "oU1", Direction: wxfleet.DirectionOut,
		MsgType: "text", Content: "在的", CreatedAt: base.Add(2 * time.Minute)}
	add(out)
	// An older push arriving late moves nothing back.
	add(in("wxA", "wx1", "oU1", "早先的", 6, base.Add(-time.Hour)))
	add(in("wxB", "wx1", "oU1", "另一个平台", 9, base))

	c, err := h.Conversation(h.ctx, wxfleet.Scope{}, "wxA", "wx1", "oU1")
	must(t, err)
	if !c.LastUserAt.Equal(base) || !c.LastMessageAt.Equal(base.Add(2*time.Minute)) || c.Messages != 3 || c.LastPreview != "在的" {
		t.Fatalf("conversation = %+v", c)
	}
	if !c.WindowOpen(base.Add(47*time.Hour)) || c.WindowOpen(base.Add(48*time.Hour)) {
		t.Fatal("the reply window is not 48 hours from the user's last message")
	}
	list, total, err := h.ListConversations(h.ctx, wxfleet.Scope{}, "wxA", "wx1", 1, "")
	must(t, err)
	if total != 2 || len(list) != 1 || list[0].OpenID != "oU1" {
		t.Fatalf("first page = %+v (total %d)", list, total)
	}
	list, _, err = h.ListConversations(h.ctx, wxfleet.Scope{}, "wxA", "wx1", 1, store.ConversationCursor(list[0]))
	must(t, err)
	if len(list) != 1 || list[0].OpenID != "oU2" {
		t.Fatalf("second page = %+v", list)
	}
	_, _, err = h.ListConversations(h.ctx, wxfleet.Scope{}, "wxA", "wx1", 1, "garbage")
	wantCode(t, err, wxfleet.EINVALID)

	msgs, err := h.ConversationMessages(h.ctx, wxfleet.Scope{}, "wxA", "wx1", "oU1", 0, 2)
	must(t, err)
	if len(msgs) != 2 || msgs[0].Content != "早先的" || msgs[1].Content != "在的" || msgs[1].Direction != wxfleet.DirectionOut {
		t.Fatalf("messages = %+v %+v", msgs[0], msgs[1])
	}
	older, err := h.ConversationMessages(h.ctx, wxfleet.Scope{}, "wxA", "wx1", "oU1", msgs[1].ID, 10)
	must(t, err)
	if len(older) != 1 || older[0].Content != "在吗" || older[0].PushKey != "wx1/m:7" {
		t.Fatalf("older = %+v", older)
	}
	// Platform first: another platform's conversation with the same openid is its own.
	if c, err := h.Conversation(h.ctx, wxfleet.Scope{}, "wxB", "wx1", "oU1"); err != nil || c.Messages != 1 {
		t.Fatalf("wxB's conversation = %+v, %v", c, err)
	}
	_, err = h.Conversation(h.ctx, wxfleet.Scope{}, "wxC", "wx1", "oU1")
	wantCode(t, err, wxfleet.ENOTFOUND)
	_, err = h.AddConversationMessage(h.ctx, &wxfleet.ConversationMessage{ComponentAppID: "wxA", AppID: "wx1", OpenID: "o", Direction: "sideways"})
	wantCode(t, err, wxfleet.EINVALID)

	// A batch: one transaction, a retry inside it filed once.
	added, err := h.AddConversationMessages(h.ctx, []*wxfleet.ConversationMessage{
		in("wxA", "wx2", "oU9", "一", 20, base), in("wxA", "wx2", "oU9", "一", 20, base), in("wxA", "wx2", "oU9", "二", 21, base)})
	must(t, err)
	if fmt.Sprint(added) != "[true false true]" {
		t.Fatalf("batch added %v", added)
	}
	if c, _ := h.Conversation(h.ctx, wxfleet.Scope{}, "wxA", "wx2", "oU9"); c == nil || c.Messages != 2 {
		t.Fatalf("batch conversation = %+v", c)
	}
}

func testSubscribeConsents(t *testing.T, h *harness) {
	must(t, h.PutSubscribeTemplate(h.ctx, wxfleet.SubscribeTemplate{ComponentAppID: "wxA", AppID: "wx1", TemplateID: "LONG", Type: 3}, base))
	take := func(tmpl string) bool {
		t.Helper()
		ok, err := h.TakeConsent(h.ctx, "wxA", "wx1", "oU1", tmpl, base)
		must(t, err)
		return ok
	}
	popup := func(event int, changes ...store.ConsentChange) bool {
		t.Helper()
		ok, err := h.ApplySubscribePopup(h.ctx, "wxA", "wx1", "oU1", fmt.Sprint("wx1/e:", event), changes, base)
		must(t, err)
		return ok
	}
	if take("ONCE") {
		t.Fatal("a consent nobody gave was taken")
	}
	popup(1, store.ConsentChange{TemplateID: "ONCE", Accept: true}, store.ConsentChange{TemplateID: "LONG", Accept: true})
	if popup(1, store.ConsentChange{TemplateID: "ONCE", Accept: true}) {
		t.Fatal("the same popup push was applied twice")
	}
	popup(2, store.ConsentChange{TemplateID: "ONCE", Accept: true})
	if !take("ONCE") || !take("ONCE") || take("ONCE") {
		t.Fatal("two accepts of a one-time template did not grant exactly two sends")
	}
	must(t, h.ReturnConsent(h.ctx, "wxA", "wx1", "oU1", "ONCE", false, base))
	if !take("ONCE") {
		t.Fatal("a returned consent was not there")
	}
	if !take("LONG") || !take("LONG") {
		t.Fatal("a long-term subscription was used up")
	}
	list, err := h.Consents(h.ctx, wxfleet.Scope{}, "wxA", "wx1", "oU1")
	must(t, err)
	if len(list) != 2 || list[0].TemplateID != "LONG" || !list[0].LongTerm || list[1].Remaining != 0 {
		t.Fatalf("consents = %+v", list)
	}
	popup(3, store.ConsentChange{TemplateID: "LONG", Accept: false})
	if take("LONG") {
		t.Fatal("a refused long-term subscription still sends")
	}
	popup(4, store.ConsentChange{TemplateID: "ONCE", Accept: true})
	must(t, h.ReturnConsent(h.ctx, "wxA", "wx1", "oU1", "ONCE", true, base)) // WeChat said 43101
	if take("ONCE") {
		t.Fatal("a cleared consent was taken")
	}
	// Platform first.
	if ok, _ := h.TakeConsent(h.ctx, "wxB", "wx1", "oU1", "LONG", base); ok {
		t.Fatal("another platform took wxA's consent")
	}
}

func testSubscribeTemplates(t *testing.T, h *harness) {
	tpl := func(id, title string, tid int) wxfleet.SubscribeTemplate {
		return wxfleet.SubscribeTemplate{ComponentAppID: "wxA", AppID: "wx1", TemplateID: id, TID: tid, Title: title, Type: 2}
	}
	must(t, h.PutSubscribeTemplate(h.ctx, tpl("T1", "订单配送通知", 1001), base))
	// A sync from WeChat's list (which has no tid) keeps the tid, drops what vanished.
	must(t, h.SyncSubscribeTemplates(h.ctx, "wxA", "wx1", []wxfleet.SubscribeTemplate{tpl("T1", "订单配送通知", 0), tpl("T2", "取餐提醒", 0)}, base.Add(time.Minute)))
	list, err := h.SubscribeTemplates(h.ctx, "wxA", "wx1")
	must(t, err)
	if len(list) != 2 || list[0].TID != 1001 || list[1].Title != "取餐提醒" || !list[1].SyncedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("templates = %+v", list)
	}
	must(t, h.SyncSubscribeTemplates(h.ctx, "wxA", "wx1", []wxfleet.SubscribeTemplate{tpl("T2", "取餐提醒", 0)}, base))
	_, err = h.SubscribeTemplate(h.ctx, "wxA", "wx1", "T1")
	wantCode(t, err, wxfleet.ENOTFOUND)
	_, err = h.SubscribeTemplate(h.ctx, "wxB", "wx1", "T2")
	wantCode(t, err, wxfleet.ENOTFOUND)

	mustPlatform(t, h, "wxA")
	a := &wxfleet.SubscribeApply{ComponentAppID: "wxA", TID: 1001, KIDs: []int{1, 2}, SceneDesc: "外卖",
		Keywords: []wxfleet.SubscribeKeyword{{Name: "订单内容", Key: "thing1"}}, CreatedAt: base}
	ran := false
	must(t, h.CreateSubscribeApply(h.ctx, a, []string{"wx1", "wx2"}, func(ctx context.Context, tx *sql.Tx) error { ran = true; return nil }))
	if a.ID == 0 || !ran {
		t.Fatalf("apply id %d, then ran %v", a.ID, ran)
	}
	got, err := h.SubscribeApply(h.ctx, "wxA", a.ID)
	must(t, err)
	if got.TID != 1001 || len(got.KIDs) != 2 || got.Keywords[0].Key != "thing1" || got.SceneDesc != "外卖" {
		t.Fatalf("apply = %+v", got)
	}
	_, err = h.SubscribeApply(h.ctx, "wxB", a.ID)
	wantCode(t, err, wxfleet.ENOTFOUND)
	done := wxfleet.SubscribeApplyApp{AppID: "wx1", Status: wxfleet.ApplyAdded, TemplateID: "T9", UpdatedAt: base}
	if ok, err := h.FinishSubscribeApplyApp(h.ctx, "wxA", a.ID, done); err != nil || !ok {
		t.Fatalf("finish: %v %v", ok, err)
	}
	if ok, _ := h.FinishSubscribeApplyApp(h.ctx, "wxA", a.ID, done); ok {
		t.Fatal("an app was finished twice")
	}
	if ok, _ := h.FinishSubscribeApplyApp(h.ctx, "wxB", a.ID, wxfleet.SubscribeApplyApp{AppID: "wx2", Status: wxfleet.ApplyFailed}); ok {
		t.Fatal("another platform finished wxA's apply")
	}
	apps, err := h.SubscribeApplyApps(h.ctx, "wxA", a.ID)
	must(t, err)
	if len(apps) != 2 || apps[0].Status != wxfleet.ApplyAdded || apps[0].TemplateID != "T9" || apps[1].Status != wxfleet.ApplyPending {
		t.Fatalf("apps = %+v", apps)
	}
	wantCode(t, h.CreateSubscribeApply(h.ctx, a, nil, nil), wxfleet.EINVALID)
}
