package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// A merchant reads its own tenant's mini program's inbox and cards, by API
// and in the console, where the pages offer only what it may do; another
// tenant's app is a 404 naming nothing, the same as an app that does not
// exist; staff read both.
func TestMerchantCapabilitiesOwnTenant(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	ctx := context.Background()
	var tenants [2]int64
	for i, name := range []string{"A 咖啡", "B 面馆"} {
		tn := &wxfleet.Tenant{Name: name, Status: wxfleet.TenantActive, CreatedAt: time.Now()}
		if err := ts.st.CreateTenant(ctx, wxfleet.Scope{}, tn); err != nil {
			t.Fatal(err)
		}
		tenants[i] = tn.ID
	}
	for i, app := range []string{"wxappa", "wxappb"} {
		if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: app, Nickname: "nick-" + app, Status: wxfleet.StatusAuthorized}); err != nil {
			t.Fatal(err)
		}
		if err := ts.st.SetAuthorizerTenant(ctx, wxfleet.Scope{}, testPlatform, app, tenants[i]); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.st.AddConversationMessage(ctx, &wxfleet.ConversationMessage{ComponentAppID: testPlatform, AppID: app, OpenID: "ou",
			Direction: wxfleet.DirectionIn, MsgType: "text", Content: "在吗 " + app, PushKey: app + "/1", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := ts.st.PutCard(ctx, &wxfleet.Card{ComponentAppID: testPlatform, AppID: app, CardID: "p" + app, TenantID: tenants[i],
			CardType: "GENERAL_COUPON", Title: "券 " + app, ReviewStatus: wxfleet.CardApproved, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	ts.account("shop@a.example", wxfleet.RoleMerchant, tenants[0])
	_, tokA := ts.account("shop2@a.example", wxfleet.RoleMerchant, tenants[0])
	_, staff := ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)

	for _, c := range []struct{ path, want string }{
		{"/api/v1/authorizers/wxappa/conversations", `"openid":"ou"`},
		{"/api/v1/authorizers/wxappa/conversations/ou", "在吗 wxappa"},
		{"/api/v1/authorizers/wxappa/cards", `"card_id":"pwxappa"`},
		{"/api/v1/authorizers/wxappa/cards/pwxappa", `"issued":0`},
	} {
		if st, body := ts.call("GET", c.path, nil, bearer(tokA)...); st != 200 || !strings.Contains(body, c.want) {
			t.Errorf("merchant A GET %s: %d %s", c.path, st, body)
		}
		other := strings.ReplaceAll(c.path, "wxappa", "wxappb")
		st, body := ts.call("GET", other, nil, bearer(tokA)...)
		if st != 404 || strings.Contains(body, "wxappb") {
			t.Errorf("merchant A GET %s: %d %s, want a 404 naming nothing", other, st, body)
		}
		_, none := ts.call("GET", strings.ReplaceAll(c.path, "wxappa", "wxnosuchapp"), nil, bearer(tokA)...)
		if strip := func(s string) string { return s[:strings.Index(s, `"request_id"`)] }; strip(none) != strip(body) {
			t.Errorf("another tenant's app and no app answer differently: %s vs %s", body, none)
		}
		if st, body := ts.call("GET", other, nil, bearer(staff)...); st != 200 {
			t.Errorf("staff GET %s: %d %s", other, st, body)
		}
	}
	// Writes to B's app are refused before anything is sent to WeChat (the
	// test server has no WeChat client: reaching it would fail the call).
	if st, body := ts.call("POST", "/api/v1/authorizers/wxappb/conversations/ou/messages", map[string]any{"msgtype": "text", "text": map[string]any{"content": "hi"}}, bearer(tokA)...); st != 404 {
		t.Errorf("merchant A replies on B's app: %d %s", st, body)
	}
	// Staff-only capabilities stay refused to a merchant, even on its own app.
	for _, p := range []string{"GET /api/v1/authorizers/wxappa/subscribe-library", "POST /api/v1/authorizers/wxappa/subscribe-templates"} {
		method, path, _ := strings.Cut(p, " ")
		var body any
		if method == "POST" {
			body = map[string]any{}
		}
		if st, _ := ts.call(method, path, body, bearer(tokA)...); st != 403 {
			t.Errorf("merchant A %s: %d, want 403", p, st)
		}
	}

	_, session := ts.signIn("shop@a.example", testPassword)
	st, page := ts.call("GET", "/authorizers/wxappa/cards", nil, "Cookie", session)
	if st != 200 || !strings.Contains(page, `data-card="pwxappa"`) || !strings.Contains(page, `id="new-coupon"`) {
		t.Fatalf("merchant A's cards page: %d %s", st, page)
	}
	if strings.Contains(page, `href="/authorizers/wxappa?`) || !strings.Contains(page, `href="/tenants/`+itoa(tenants[0])+`"`) {
		t.Errorf("merchant A's cards page offers a staff action or links the staff's authorizer page")
	}
	if st, page := ts.call("GET", "/authorizers/wxappa/subscribe", nil, "Cookie", session); st != 200 || strings.Contains(page, "/subscribe/library") || !strings.Contains(page, `id="send"`) {
		t.Errorf("merchant A's subscribe page: %d (library link shown or send form missing)", st)
	}
	for _, p := range []string{"/authorizers/wxappb/inbox", "/authorizers/wxappb/inbox/ou", "/authorizers/wxappb/cards", "/authorizers/wxappb/wifi"} {
		if st, page := ts.call("GET", p, nil, "Cookie", session); st != 404 || strings.Contains(page, "nick-wxappb") || strings.Contains(page, "在吗") || strings.Contains(page, "券 wxappb") {
			t.Errorf("merchant A GET %s: %d, want a 404 showing nothing of B's", p, st)
		}
	}
}
