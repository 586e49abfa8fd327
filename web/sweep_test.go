package web

import (
	"context"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// sweepRoutes lists every route registered with an access declaration
// (Server.api, Server.page) and the path values the sweep calls it with:
// tenant B's ids where the route is tenant-scoped ("B.token", "B.account",
// "B.appid", "B.tenant" are replaced by tenant B's), anything for staff
// routes. A route
// missing here fails TestIsolationSweep: add it, naming another tenant's
// ids, so that no route escapes the sweep.
var sweepRoutes = map[string]map[string]string{
	"GET /api/v1/platforms":                             nil,
	"POST /api/v1/authorization-links":                  nil,
	"GET /api/v1/authorizers":                           nil,
	"GET /api/v1/authorizers/{appid}":                   {"appid": "B.appid"},
	"GET /api/v1/authorizers/{appid}/access-token":      {"appid": "B.appid"},
	"POST /api/v1/authorizers/{appid}/wechat/{path...}": {"appid": "B.appid", "path": "cgi-bin/component/api_get_authorizer_info"},
	"GET /api/v1/authorizers/{appid}/wechat/{path...}":  {"appid": "B.appid", "path": "wxa/get_category"},
	"GET /api/v1/events":                                nil,
	"GET /api/v1/templates/drafts":                      nil,
	"GET /api/v1/templates":                             nil,
	"POST /api/v1/templates":                            nil,
	"POST /api/v1/templates/sync":                       nil,
	"GET /api/v1/templates/{id}":                        {"id": "1"},
	"PUT /api/v1/templates/{id}":                        {"id": "1"},
	"DELETE /api/v1/templates/{id}":                     {"id": "1"},
	"GET /api/v1/templates/{id}/ext-json":               {"id": "1"},
	"GET /api/v1/authorizers/{appid}/settings":          {"appid": "B.appid"},
	"PUT /api/v1/authorizers/{appid}/settings":          {"appid": "B.appid"},
	"PUT /api/v1/authorizers/{appid}/tags":              {"appid": "B.appid"},
	"GET /api/v1/authorizers/{appid}/versions":          {"appid": "B.appid"},
	"POST /api/v1/rollouts":                             nil,
	"GET /api/v1/rollouts":                              nil,
	"GET /api/v1/rollouts/{id}":                         {"id": "1"},
	"GET /api/v1/rollouts/{id}/apps":                    {"id": "1"},
	"POST /api/v1/rollouts/{id}/{action}":               {"id": "1", "action": "cancel"},
	"PUT /api/v1/templates/{id}/policy":                 {"id": "1"},
	"POST /api/v1/fleet-actions":                        nil,
	"GET /api/v1/fleet-actions":                         nil,
	"GET /api/v1/fleet-actions/{id}":                    {"id": "1"},
	"GET /api/v1/fleet-actions/{id}/apps":               {"id": "1"},
	"GET /api/v1/authorizers/{appid}/testers":           {"appid": "B.appid"},
	"DELETE /api/v1/authorizers/{appid}/hold":           {"appid": "B.appid"},
	"GET /api/v1/tokens/health":                         nil,
	"POST /api/v1/accounts":                             nil,
	"GET /api/v1/accounts":                              nil,
	"GET /api/v1/accounts/{id}":                         {"id": "B.account"},
	"PATCH /api/v1/accounts/{id}":                       {"id": "B.account"},
	"POST /api/v1/api-tokens":                           nil,
	"GET /api/v1/api-tokens":                            nil,
	"DELETE /api/v1/api-tokens/{id}":                    {"id": "B.token"},
	"GET /api/v1/audit-log":                             nil,
	"GET /api/v1/pay/merchant":                          nil,
	"POST /api/v1/pay/applyments":                       nil,
	"GET /api/v1/pay/applyments/{id}":                   {"id": "B.applyment"},
	"POST /api/v1/pay/sub-merchants":                    nil,
	"GET /api/v1/pay/orders":                            nil,
	"GET /api/v1/pay/orders/{out_trade_no}":             {"out_trade_no": "wxf_sweep_0001"},
	"POST /api/v1/pay/orders/{out_trade_no}/close":      {"out_trade_no": "wxf_sweep_0001"},
	"POST /api/v1/pay/orders/{out_trade_no}/refunds":    {"out_trade_no": "wxf_sweep_0001"},
	"GET /api/v1/pay/orders/{out_trade_no}/refunds":     {"out_trade_no": "wxf_sweep_0001"},
	"POST /api/v1/tenants":                              nil,
	"GET /api/v1/tenants":                               nil,
	"GET /api/v1/tenants/{id}":                          {"id": "B.tenant"},
	"PATCH /api/v1/tenants/{id}":                        {"id": "B.tenant"},
	"GET /api/v1/tenants/{id}/settings":                 {"id": "B.tenant"},
	"PUT /api/v1/tenants/{id}/settings":                 {"id": "B.tenant"},
	"POST /api/v1/tenants/{id}/authorization-links":     {"id": "B.tenant"},
	"GET /api/v1/tenants/{id}/subscription":             {"id": "B.tenant"},
	"POST /api/v1/tenants/{id}/subscription":            {"id": "B.tenant"},
	"POST /api/v1/tenants/{id}/subscription/renew":      {"id": "B.tenant"},
	"GET /api/v1/tenants/{id}/reminders":                {"id": "B.tenant"},
	"PUT /api/v1/authorizers/{appid}/tenant":            {"appid": "B.appid"},
	"POST /api/v1/plans":                                nil,
	"GET /api/v1/plans":                                 nil,
	"GET /api/v1/plans/{id}":                            {"id": "1"},
	"PATCH /api/v1/plans/{id}":                          {"id": "1"},
	"GET /tenants":                                      nil,
	"GET /{$}":                                          nil,
	"GET /authorizers":                                  nil,
	"GET /authorizers/{appid}":                          {"appid": "B.appid"},
	"GET /authorizers/{appid}/wechat":                   {"appid": "B.appid"},
	"GET /events":                                       nil,
	"GET /dashboard/quota":                              nil,
	"GET /rollouts":                                     nil,
	"GET /templates":                                    nil,
	"GET /templates/drafts":                             nil,
	"POST /templates":                                   nil,
	"POST /templates/sync":                              nil,
	"GET /templates/{id}":                               {"id": "1"},
	"POST /templates/{id}/edit":                         {"id": "1"},
	"POST /templates/{id}/policy":                       {"id": "1"},
	"POST /templates/{id}/delete":                       {"id": "1"},
	"GET /rollouts/new":                                 nil,
	"POST /rollouts":                                    nil,
	"POST /rollouts/{id}/{action}":                      {"id": "1", "action": "cancel"},
	"GET /rollouts/{id}":                                {"id": "1"},
	"GET /rollouts/{id}/events":                         {"id": "1"},
	"GET /fleet-actions":                                nil,
	"GET /fleet-actions/new":                            nil,
	"POST /fleet-actions":                               nil,
	"GET /fleet-actions/{id}":                           {"id": "1"},
	"GET /audit-log":                                    nil,
	"GET /docs/api":                                     nil,
	"GET /accounts":                                     nil,
	"GET /api-tokens":                                   nil,
	"POST /api-tokens":                                  nil,
	"POST /api-tokens/{id}/delete":                      {"id": "B.token"},
	"POST /accounts":                                    nil,
	"POST /accounts/{id}/{change}":                      {"id": "B.account", "change": "disable"},
	"POST /tenants":                                     nil,
	"GET /tenants/{id}":                                 {"id": "B.tenant"},
	"POST /tenants/{id}/settings":                       {"id": "B.tenant"},
	"POST /tenants/{id}/authorization-link":             {"id": "B.tenant"},
	"POST /tenants/{id}/renew":                          {"id": "B.tenant"},
	"POST /tenants/{id}/subscription":                   {"id": "B.tenant"},
	"POST /tenants/{id}/edit":                           {"id": "B.tenant"},
	"POST /tenants/{id}/status":                         {"id": "B.tenant"},
	"POST /authorizers/{appid}/tags":                    {"appid": "B.appid"},
	"POST /authorizers/{appid}/settings":                {"appid": "B.appid"},
	"POST /authorizers/{appid}/tenant":                  {"appid": "B.appid"},
	"POST /authorizers/{appid}/hold/release":            {"appid": "B.appid"},
	"GET /authorizers/{appid}/wechat/call":              {"appid": "B.appid"},
	"POST /authorizers/{appid}/wechat/call":             {"appid": "B.appid"},
	"GET /plans":                                        nil,
	"POST /plans":                                       nil,
	"POST /plans/{id}":                                  {"id": "1"},
	"GET /tenants/{id}/apps/{appid}/qrcode":             {"id": "B.tenant", "appid": "B.appid"},
	"GET /tenants/{id}/apps/{appid}/testers":            {"id": "B.tenant", "appid": "B.appid"},
	"POST /tenants/{id}/apps/{appid}/testers":           {"id": "B.tenant", "appid": "B.appid"},
	// Customer service, subscribe messages, cards and Wi-Fi: the merchant's
	// own apps' are tenant-scoped (appscope.go), B's app is not found; the
	// openids and card ids are B's (seeded below, with markers).
	"GET /webhooks":                           nil,
	"POST /webhooks":                          nil,
	"GET /webhooks/{id}":                      {"id": "B.webhook"},
	"POST /webhooks/{id}/disable":             {"id": "B.webhook"},
	"POST /webhooks/{id}/edit":                {"id": "B.webhook"},
	"POST /webhooks/{id}/rotate-secret":       {"id": "B.webhook"},
	"POST /webhooks/{id}/delete":              {"id": "B.webhook"},
	"POST /webhook-deliveries/{id}/redeliver": {"id": "B.delivery"},
	"GET /authorizers/{appid}/inbox":          {"appid": "B.appid"},
	// Page routes' ids are lower case: a page's language switch names its
	// own path, which the sweep strips only as given or lower-cased.
	"GET /authorizers/{appid}/inbox/{openid}":           {"appid": "B.appid", "openid": "ob"},
	"POST /authorizers/{appid}/inbox/{openid}":          {"appid": "B.appid", "openid": "ob"},
	"GET /authorizers/{appid}/subscribe":                {"appid": "B.appid"},
	"POST /authorizers/{appid}/subscribe/sync":          {"appid": "B.appid"},
	"GET /authorizers/{appid}/subscribe/library":        {"appid": "B.appid"},
	"POST /authorizers/{appid}/subscribe/templates":     {"appid": "B.appid"},
	"POST /authorizers/{appid}/subscribe/send":          {"appid": "B.appid"},
	"GET /subscribe-templates/apply":                    nil,
	"POST /subscribe-templates/apply":                   nil,
	"GET /subscribe-templates/apply/{id}":               {"id": "1"},
	"GET /authorizers/{appid}/cards":                    {"appid": "B.appid"},
	"POST /authorizers/{appid}/cards":                   {"appid": "B.appid"},
	"POST /authorizers/{appid}/cards/{card_id}/consume": {"appid": "B.appid", "card_id": "pmarkerb"},
	"GET /authorizers/{appid}/wifi":                     {"appid": "B.appid"},
	"GET /authorizers/{appid}/wifi/{shop_id}/qrcode":    {"appid": "B.appid", "shop_id": "1"},
	"POST /authorizers/{appid}/wifi/{shop_id}/devices":  {"appid": "B.appid", "shop_id": "1"},
	"GET /pay":                 nil,
	"POST /pay/applyments":     nil,
	"GET /pay/applyments/{id}": {"id": "1"},
	"GET /pay/tenant-options":  nil,
	"POST /pay/sub-merchants":  nil,
	// A tenant's pay page: B's tenant is not found; B's application (seeded
	// below, with markers) is not found by its id under A's tenant either.
	"GET /tenants/{id}/pay":                                            {"id": "B.tenant"},
	"POST /tenants/{id}/pay/applyments":                                {"id": "B.tenant"},
	"GET /tenants/{id}/pay/applyments/{aid}":                           {"id": "B.tenant", "aid": "B.applyment"},
	"POST /pay/test-orders":                                            nil,
	"GET /pay/orders/{out_trade_no}":                                   {"out_trade_no": "wxf_sweep_0001"},
	"POST /pay/orders/{out_trade_no}/close":                            {"out_trade_no": "wxf_sweep_0001"},
	"POST /pay/orders/{out_trade_no}/refunds":                          {"out_trade_no": "wxf_sweep_0001"},
	"GET /api/v1/authorizers/{appid}/conversations":                    {"appid": "B.appid"},
	"GET /api/v1/authorizers/{appid}/conversations/{openid}":           {"appid": "B.appid", "openid": "oB"},
	"POST /api/v1/authorizers/{appid}/conversations/{openid}/messages": {"appid": "B.appid", "openid": "oB"},
	"POST /api/v1/authorizers/{appid}/conversations/{openid}/typing":   {"appid": "B.appid", "openid": "oB"},
	"GET /api/v1/authorizers/{appid}/subscribe-templates":              {"appid": "B.appid"},
	"POST /api/v1/authorizers/{appid}/subscribe-templates":             {"appid": "B.appid"},
	"GET /api/v1/authorizers/{appid}/subscribe-library":                {"appid": "B.appid"},
	"POST /api/v1/authorizers/{appid}/subscribe-messages":              {"appid": "B.appid"},
	"POST /api/v1/subscribe-templates/apply":                           nil,
	"GET /api/v1/subscribe-templates/apply/{id}":                       {"id": "1"},
	"POST /api/v1/authorizers/{appid}/cards":                           {"appid": "B.appid"},
	"GET /api/v1/authorizers/{appid}/cards":                            {"appid": "B.appid"},
	"GET /api/v1/authorizers/{appid}/cards/{card_id}":                  {"appid": "B.appid", "card_id": "pMarkerB"},
	"POST /api/v1/authorizers/{appid}/cards/{card_id}/consume":         {"appid": "B.appid", "card_id": "pMarkerB"},
	"GET /api/v1/authorizers/{appid}/wifi/shops":                       {"appid": "B.appid"},
	"POST /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/devices":    {"appid": "B.appid", "shop_id": "1"},
	"GET /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/qrcode":      {"appid": "B.appid", "shop_id": "1"},
	"POST /api/v1/webhooks":                                            nil,
	"GET /api/v1/webhooks":                                             nil,
	"GET /api/v1/webhooks/dead-letters":                                nil,
	"GET /api/v1/webhooks/{id}":                                        {"id": "B.webhook"},
	"PATCH /api/v1/webhooks/{id}":                                      {"id": "B.webhook"},
	"DELETE /api/v1/webhooks/{id}":                                     {"id": "B.webhook"},
	"POST /api/v1/webhooks/{id}/rotate-secret":                         {"id": "B.webhook"},
	"GET /api/v1/webhooks/{id}/deliveries":                             {"id": "B.webhook"},
	"GET /api/v1/webhook-deliveries/{id}":                              {"id": "B.delivery"},
	"POST /api/v1/webhook-deliveries/{id}/redeliver":                   {"id": "B.delivery"},
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// The isolation sweep: every declared route, called by a merchant of
// tenant A with tenant B's ids (and ?tenant_id= of B), answers 403 for a
// staff route, 403 or 404 for a tenant route naming B's things, and never
// shows or changes anything of B's.
func TestIsolationSweep(t *testing.T) { storetest.Run(t, testIsolationSweep) }

func testIsolationSweep(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	const tenantA, tenantB = 1, 2
	_, tokA := ts.account("shop@tenant-a.example", wxfleet.RoleMerchant, tenantA)
	accB, tokB := ts.account("marker-b@tenant-b.example", wxfleet.RoleMerchant, tenantB)
	tokensB, err := ts.st.ListAPITokens(ctx, accB.ID)
	if err != nil || len(tokensB) != 1 {
		t.Fatal(tokensB, err)
	}
	if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: "wxappmarkerb", Status: wxfleet.StatusAuthorized}); err != nil {
		t.Fatal(err)
	}
	// The tenants themselves (ids 1 and 2 in a fresh database), B's with a marker in its name and settings.
	for _, name := range []string{"tenant-a", "tenant-marker-b"} {
		tn := &wxfleet.Tenant{Name: name, Status: wxfleet.TenantActive, Settings: []byte(`{"who":"` + name + `"}`), CreatedAt: time.Now()}
		if err := ts.st.CreateTenant(ctx, wxfleet.Scope{}, tn); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.st.SetAuthorizerTenant(ctx, wxfleet.Scope{}, testPlatform, "wxappmarkerb", tenantB); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.WriteAudit(ctx, &wxfleet.AuditEntry{At: time.Now(), Action: "settings.update", TenantID: tenantB, Target: "audit-marker-b"}); err != nil {
		t.Fatal(err)
	}
	// Tenant B's webhook, with a delivery that is dead (so redeliverable).
	hookB := &wxfleet.WebhookEndpoint{ID: "wh_markerb", ComponentAppID: testPlatform, TenantID: tenantB, URL: "https://hook-marker-b.example/in",
		Events: []string{"*"}, Secret: "whsec_marker_b_secret", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := ts.st.CreateWebhookEndpoint(ctx, wxfleet.Scope{}, hookB); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.InsertWebhookEvent(ctx, &wxfleet.WebhookEvent{ID: "evt_markerb", ComponentAppID: testPlatform, Type: "message.received",
			TenantID: tenantB, Payload: []byte(`{"id":"evt_markerb","data":"payload-marker-b"}`), CreatedAt: time.Now()}); err != nil {
			return err
		}
		return tx.InsertWebhookDeliveries(ctx, []*wxfleet.WebhookDelivery{{ID: "dlv_markerb", EndpointID: hookB.ID, ComponentAppID: testPlatform,
			TenantID: tenantB, EventID: "evt_markerb", EventType: "message.received", CreatedAt: time.Now()}})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.RecordWebhookAttempt(ctx, "dlv_markerb", wxfleet.WebhookAttempt{StatusCode: 500, Error: "HTTP 500", At: time.Now()}, wxfleet.DeliveryDead); err != nil {
		t.Fatal(err)
	}
	// B's app's users wrote (both openids the sweep names: pages lower case,
	// the API mixed), and B's app has a card with issued codes.
	for _, openid := range []string{"ob", "oB"} {
		if _, err := ts.st.AddConversationMessage(ctx, &wxfleet.ConversationMessage{ComponentAppID: testPlatform, AppID: "wxappmarkerb", OpenID: openid,
			Direction: wxfleet.DirectionIn, MsgType: "text", Content: "msg-marker-b", PushKey: "sweep/" + openid, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.st.ApplySubscribePopup(ctx, testPlatform, "wxappmarkerb", openid, "sweep/popup/"+openid,
			[]store.ConsentChange{{TemplateID: "tmpl-marker-b", Accept: true}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"pmarkerb", "pMarkerB"} {
		if err := ts.st.PutCard(ctx, &wxfleet.Card{ComponentAppID: testPlatform, AppID: "wxappmarkerb", CardID: id, TenantID: tenantB,
			CardType: "GENERAL_COUPON", Title: "card-marker-b", ReviewStatus: wxfleet.CardApproved, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// B's WeChat Pay: an application (rejected, with WeChat Pay's reason), its
	// app bound to a sub-merchant, an order.
	tb := int64(tenantB)
	applB := &wxfleet.PayApplyment{ComponentAppID: testPlatform, BusinessCode: "biz_applmarkerb", AppID: "wxappmarkerb", TenantID: &tb,
		Shortname: "shortname-marker-b", Form: []byte(`{"business_code":"biz_applmarkerb"}`), State: wxfleet.ApplymentRejected,
		AuditDetail: []wxfleet.PayAuditDetail{{Field: "id_card_copy", FieldName: "身份证", RejectReason: "reason-marker-b"}},
		SignURL:     "https://pay.example/sign-marker-b", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := ts.st.SavePayApplyment(ctx, applB); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.BindPaySubMerchant(ctx, &wxfleet.PaySubMerchant{ComponentAppID: testPlatform, AppID: "wxappmarkerb", SubMchID: "1699990001", TenantID: &tb, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.CreatePayOrder(ctx, &wxfleet.PayOrder{ComponentAppID: testPlatform, SubMchID: "1699990001", OutTradeNo: "wxf_ordermarkerb", AppID: "wxappmarkerb",
		OpenID: "oB", Description: "order-marker-b", Amount: 100, State: wxfleet.OrderNotPaid, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// B's app took a payment, wxf_sweep_0001 (the order the pay routes name).
	if err := ts.st.CreatePayOrder(ctx, &wxfleet.PayOrder{ComponentAppID: testPlatform, OutTradeNo: "wxf_sweep_0001", SubMchID: "1699990001", AppID: "wxappmarkerb",
		OpenID: "o-payer-marker-b", Description: "order-marker-b", Amount: 1500, State: wxfleet.OrderPaid, TransactionID: "4200marker", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"B.applyment": itoa(applB.ID), "B.token": itoa(tokensB[0].ID), "B.account": itoa(accB.ID), "B.appid": "wxappmarkerb", "B.tenant": itoa(tenantB),
		"B.webhook": hookB.ID, "B.delivery": "dlv_markerb"}
	markers := []string{"marker-b@tenant-b.example", "audit-marker-b", "wxappmarkerb", "tenant-marker-b", tokB, "hook-marker-b", "whsec_marker_b_secret", "payload-marker-b",
		"msg-marker-b", "tmpl-marker-b", "card-marker-b", "pmarkerb", "pMarkerB",
		"biz_applmarkerb", "shortname-marker-b", "reason-marker-b", "sign-marker-b", "1699990001", "wxf_ordermarkerb", "order-marker-b", "o-payer-marker-b"}
	_, session := ts.signIn("shop@tenant-a.example", testPassword)
	if session == "" {
		t.Fatal("merchant A cannot sign in")
	}
	_, csrf := ts.page("/audit-log", session)

	routes := ts.Routes()
	seen := map[string]bool{}
	for _, r := range routes {
		seen[r.Pattern] = true
		vals, listed := sweepRoutes[r.Pattern]
		if !listed {
			t.Errorf("route %s is not in sweepRoutes: add it with another tenant's ids", r.Pattern)
			continue
		}
		method, pattern, _ := strings.Cut(r.Pattern, " ")
		params := pathParam.FindAllStringSubmatch(pattern, -1)
		path := strings.ReplaceAll(pattern, "{$}", "")
		for _, p := range params {
			v, ok := vals[p[1]]
			if !ok {
				t.Fatalf("%s: sweepRoutes gives no value for {%s}", r.Pattern, p[1])
			}
			if id, ok := ids[v]; ok {
				v = id
			}
			path = strings.Replace(path, p[0], v, 1)
		}
		path += "?tenant_id=" + itoa(tenantB)
		api := strings.HasPrefix(pattern, "/api/")
		var st int
		var body string
		switch {
		case api && safeMethod(method):
			st, body = ts.call(method, path, nil, bearer(tokA)...)
		case api:
			st, body = ts.call(method, path, map[string]any{}, bearer(tokA)...)
		case safeMethod(method):
			st, body = ts.call(method, path, nil, "Cookie", session)
		default:
			st, body = ts.call(method, path, url.Values{"csrf": {csrf}}.Encode(), "Cookie", session)
		}
		switch {
		case !r.Access.TenantScoped():
			if st != 403 {
				t.Errorf("staff route %s as a merchant: %d, want 403", r.Pattern, st)
			}
		case len(params) > 0:
			if st != 403 && st != 404 {
				t.Errorf("tenant route %s with tenant B's ids: %d, want 403 or 404: %s", r.Pattern, st, body)
			}
		default:
			if st >= 500 {
				t.Errorf("tenant route %s: %d %s", r.Pattern, st, body)
			}
		}
		// The page may name the path it was asked for (the language
		// switch does): that is the caller's own words, not B's data.
		rawPath, _, _ := strings.Cut(path, "?")
		for _, echo := range []string{rawPath, url.QueryEscape(rawPath), strings.ToLower(url.QueryEscape(rawPath))} {
			body = strings.ReplaceAll(body, echo, "")
		}
		for _, m := range markers {
			if strings.Contains(body, m) {
				i := strings.Index(body, m)
				t.Errorf("%s as merchant A shows tenant B's %q: …%s…", r.Pattern, m, body[max(0, i-80):min(len(body), i+80)])
			}
		}
	}
	// Tenant A's own pay page shows nothing of B's; B's application by its
	// id under A's tenant, page or API, is not found; A cannot file an
	// application under B (nothing is stored).
	for p, want := range map[string]int{"/tenants/" + itoa(tenantA) + "/pay": 200, "/tenants/" + itoa(tenantA) + "/pay/applyments/" + itoa(applB.ID): 404} {
		st, body := ts.call("GET", p, nil, "Cookie", session)
		if st != want {
			t.Errorf("merchant A GET %s: %d, want %d", p, st, want)
		}
		for _, m := range markers {
			if strings.Contains(body, m) {
				t.Errorf("merchant A's %s shows tenant B's %q", p, m)
			}
		}
	}
	st, body := ts.call("POST", "/api/v1/pay/applyments", map[string]any{"tenant_id": tenantB, "appid": "wxappmarkerb",
		"form": map[string]any{"business_code": "biz_by_a_for_b"}}, bearer(tokA)...)
	if st != 404 {
		t.Errorf("merchant A files an application under B: %d %s, want 404", st, body)
	}
	if st, body := ts.call("POST", "/tenants/"+itoa(tenantA)+"/pay/applyments", url.Values{"csrf": {csrf}, "appid": {"wxappmarkerb"},
		"form": {`{"business_code":"biz_by_a_for_b2"}`}}.Encode(), "Cookie", session); st != 400 || !strings.Contains(body, `data-field-error="appid"`) {
		t.Errorf("merchant A applies for B's mini program in its portal: %d, want 400 naming the appid", st)
	}
	if list, err := ts.st.PayApplyments(ctx, wxfleet.Scope{}, testPlatform, 10); err != nil || len(list) != 1 {
		t.Errorf("applications after the sweep: %d %v, want B's only", len(list), err)
	}
	if a, err := ts.st.PayApplyment(ctx, wxfleet.Scope{}, testPlatform, applB.ID); err != nil || a.State != wxfleet.ApplymentRejected || *a.TenantID != tenantB {
		t.Errorf("B's application after the sweep: %+v %v", a, err)
	}

	var stale []string
	for p := range sweepRoutes {
		if !seen[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("sweepRoutes lists routes no longer registered: %v", stale)
	}
	// Nothing of B's changed: its token still works, its account is as it was.
	if st, _ := ts.call("GET", "/api/v1/api-tokens", nil, bearer(tokB)...); st != 200 {
		t.Fatalf("B's token after the sweep: %d", st)
	}
	after, err := ts.st.Account(ctx, wxfleet.Scope{}, accB.ID)
	if err != nil || after.Disabled || after.Role != wxfleet.RoleMerchant || after.TenantID != tenantB || after.CredentialsVersion != accB.CredentialsVersion {
		t.Fatalf("B's account after the sweep: %+v %v", after, err)
	}
	if e, err := ts.st.WebhookEndpoint(ctx, wxfleet.Scope{}, testPlatform, hookB.ID); err != nil || e.URL != hookB.URL || e.Secret != hookB.Secret || e.Disabled {
		t.Fatalf("B's webhook after the sweep: %+v %v", e, err)
	}
	if d, _, err := ts.st.WebhookDelivery(ctx, wxfleet.Scope{}, testPlatform, "dlv_markerb"); err != nil || d.Status != wxfleet.DeliveryDead {
		t.Fatalf("B's delivery after the sweep: %+v %v", d, err)
	}
	if tb, err := ts.st.Tenant(ctx, wxfleet.Scope{}, tenantB); err != nil || tb.Name != "tenant-marker-b" || tb.Status != wxfleet.TenantActive || string(tb.Settings) != `{"who":"tenant-marker-b"}` {
		t.Fatalf("tenant B after the sweep: %+v %v", tb, err)
	}
	// No message went to B's users, no card was made or redeemed on B's app.
	for _, openid := range []string{"ob", "oB"} {
		if msgs, err := ts.st.ConversationMessages(ctx, wxfleet.Scope{}, testPlatform, "wxappmarkerb", openid, 0, 10); err != nil || len(msgs) != 1 {
			t.Fatalf("B's conversation with %s after the sweep: %d messages, %v", openid, len(msgs), err)
		}
	}
	if cs, err := ts.st.Cards(ctx, wxfleet.Scope{}, testPlatform, "wxappmarkerb"); err != nil || len(cs) != 2 || cs[0].Redeemed != 0 || cs[1].Redeemed != 0 {
		t.Fatalf("B's cards after the sweep: %+v %v", cs, err)
	}
	// B's order is as it was: not closed, not refunded.
	if o, err := ts.st.PayOrder(ctx, wxfleet.Scope{}, testPlatform, "1699990001", "wxf_sweep_0001"); err != nil || o.State != wxfleet.OrderPaid {
		t.Fatalf("B's order after the sweep: %+v %v", o, err)
	}
	if fs, err := ts.st.PayRefunds(ctx, testPlatform, "1699990001", "wxf_sweep_0001"); err != nil || len(fs) != 0 {
		t.Fatalf("B's refunds after the sweep: %+v %v", fs, err)
	}
	if l, _ := ts.st.ListAudit(ctx, wxfleet.Scope{}, store.AuditFilter{TenantID: tenantB}); len(l) != 1 {
		t.Fatalf("tenant B's audit log after the sweep: %d entries", len(l))
	}
}
