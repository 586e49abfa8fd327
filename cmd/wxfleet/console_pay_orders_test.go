package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

// sandboxOrderStates is each order's trade_state at the sandbox.
func (d *testDemo) sandboxOrderStates() map[string]string {
	d.t.Helper()
	var list struct {
		Items []struct {
			OutTradeNo string `json:"out_trade_no"`
			State      string `json:"trade_state"`
		} `json:"items"`
	}
	if st := d.sandbox("GET", "/sandbox/api/pay/orders", nil, &list); st != 200 {
		d.t.Fatalf("sandbox orders: %d", st)
	}
	out := map[string]string{}
	for _, o := range list.Items {
		out[o.OutTradeNo] = o.State
	}
	return out
}

// The console's order page: every listed order links to it; it shows the
// amount in yuan, the state in words, the payer and the transaction id; an
// unpaid order is closed after a confirmation, here and at WeChat Pay, and
// pay.closed sent once; one
// paid whose notification was lost shows paid once WeChat Pay is asked, and
// closing another such order shows WeChat Pay's ORDERPAID; a paid order is
// refunded in yuan from the form, more than is left refused with the input
// kept. A merchant reads and refunds its own tenant's order and gets 404 for
// another tenant's.
func TestConsolePayOrders(t *testing.T) {
	d := bootDemo(t)
	app, sub, token := payReady(t, d, "wxf_cpo_1")
	d.payOrder(token, "wxf_cpo_0001", 1500)
	d.payOrder(token, "wxf_cpo_0002", 300)
	d.payOrder(token, "wxf_cpo_0003", 800)
	rcv := newHookReceiver(t)
	var hook struct {
		Secret string `json:"secret"`
	}
	if st := d.api("POST", "/api/v1/webhooks", map[string]any{"url": rcv.srv.URL, "events": []string{"pay.closed"}}, &hook); st != 201 {
		t.Fatalf("create webhook: %d", st)
	}
	rcv.mu.Lock()
	rcv.secret = hook.Secret
	rcv.mu.Unlock()
	c := d.console()
	q := "?platform=" + demoPlatform.AppID
	page := func(no string) string { return "/pay/orders/" + no + q + "&sub_mchid=" + sub }

	_, body := c.get("/pay" + q)
	for _, no := range []string{"wxf_cpo_0001", "wxf_cpo_0002", "wxf_cpo_0003"} {
		if !strings.Contains(html.UnescapeString(body), `href="`+page(no)+`"`) {
			t.Fatalf("the pay page does not link order %s to its page", no)
		}
	}
	st, body := c.get(page("wxf_cpo_0001"))
	if st != 200 || !strings.Contains(body, "15.00") || !strings.Contains(body, "未支付") || !strings.Contains(body, "oPAYUSER000000000000000002") ||
		!strings.Contains(body, `id="payable"`) {
		t.Fatalf("order page: HTTP %d\n%s", st, body)
	}
	if st, _ := c.get("/pay/orders/wxf_cpo_none" + q); st != 404 {
		t.Fatalf("a missing order's page: HTTP %d", st)
	}

	// Close: a confirmation first, which closes nothing; then closed on both sides.
	st, body = c.post("/pay/orders/wxf_cpo_0002/close"+q+"&sub_mchid="+sub, url.Values{})
	if st != 200 || !strings.Contains(body, `id="confirm-action"`) || !strings.Contains(html.UnescapeString(body), `action="/pay/orders/wxf_cpo_0002/close`+q+"&sub_mchid="+sub+`"`) {
		t.Fatalf("close without confirming: HTTP %d\n%s", st, body)
	}
	if d.sandboxOrderStates()["wxf_cpo_0002"] != "NOTPAY" {
		t.Fatal("the confirmation page closed the order")
	}
	if st, loc := c.post("/pay/orders/wxf_cpo_0002/close"+q+"&sub_mchid="+sub, url.Values{"confirm": {"yes"}}); st != http.StatusSeeOther || loc != page("wxf_cpo_0002") {
		t.Fatalf("close: HTTP %d → %q", st, loc)
	}
	if _, body := c.get(page("wxf_cpo_0002")); !strings.Contains(body, "已关闭") || strings.Contains(body, `id="close"`) {
		t.Fatal("the closed order's page does not say closed (or still offers to close it)")
	}
	if s := d.sandboxOrderStates()["wxf_cpo_0002"]; s != "CLOSED" {
		t.Fatalf("closed order at the sandbox: %s", s)
	}
	d.eventually("pay.closed delivered", func() bool { return len(rcv.of("pay.closed", app)) > 0 })
	var closed struct {
		OutTradeNo string `json:"out_trade_no"`
		Amount     int64  `json:"amount"`
		Source     string `json:"source"`
	}
	json.Unmarshal(rcv.of("pay.closed", app)[0].Data, &closed)
	if closed.OutTradeNo != "wxf_cpo_0002" || closed.Amount != 300 || closed.Source != "close" {
		t.Fatalf("pay.closed %+v", closed)
	}
	// Closed again (the API, as a retry would): no second event.
	if st := d.api("POST", "/api/v1/pay/orders/wxf_cpo_0002/close", nil, nil); st != 200 {
		t.Fatalf("closing a closed order again: %d", st)
	}

	// Paid, the notification lost: asked about, it is paid.
	for _, no := range []string{"wxf_cpo_0001", "wxf_cpo_0003"} {
		if st := d.sandbox("POST", "/sandbox/api/pay/orders/"+no+"/pay", map[string]any{"sub_mchid": sub, "lose_notification": true}, nil); st != 200 {
			t.Fatalf("pay %s: %d", no, st)
		}
	}
	if _, body := c.get(page("wxf_cpo_0001")); !strings.Contains(body, "未支付") {
		t.Fatal("the order is paid before anyone asked")
	}
	st, body = c.get(page("wxf_cpo_0001") + "&refresh=true")
	if st != 200 || !strings.Contains(body, "已支付") || !strings.Contains(body, `id="transaction-id"`) || !strings.Contains(body, "<code>SUCCESS</code>") {
		t.Fatalf("the order asked about: HTTP %d\n%s", st, body)
	}
	// Closing an order WeChat Pay has seen paid: its ORDERPAID on the page, and the payment recorded.
	st, body = c.post("/pay/orders/wxf_cpo_0003/close"+q+"&sub_mchid="+sub, url.Values{"confirm": {"yes"}})
	if st != 409 || !strings.Contains(body, `id="close-error"`) || !strings.Contains(body, "ORDERPAID") || !strings.Contains(body, "已支付") {
		t.Fatalf("closing a paid order: HTTP %d\n%s", st, body)
	}

	// Refunds in yuan: more than the order, then 10.00, then more than the 5.00 left.
	refund := func(amount, reason string) (int, string) {
		return c.post("/pay/orders/wxf_cpo_0001/refunds"+q+"&sub_mchid="+sub, url.Values{"amount": {amount}, "reason": {reason}})
	}
	for _, bad := range []string{"15.01", "0", "1.005", "十元"} {
		st, body := refund(bad, "试一下")
		if st != 400 || !strings.Contains(body, `id="refund-error"`) || !strings.Contains(body, `value="`+html.EscapeString(bad)+`"`) || !strings.Contains(body, `value="试一下"`) {
			t.Fatalf("refund %q: HTTP %d, want 400 with the input kept\n%s", bad, st, body)
		}
	}
	st, loc := refund("10", "少一份")
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, page("wxf_cpo_0001")+"&refunded=") {
		t.Fatalf("refund: HTTP %d → %q", st, loc)
	}
	if _, body := c.get(loc); !strings.Contains(body, "10.00") || !strings.Contains(body, "少一份") || !strings.Contains(body, `id="left">5.00<`) {
		t.Fatalf("the order page after a refund:\n%s", body)
	}
	st, body = refund("5.01", "再退")
	if st != 400 || !strings.Contains(body, "5.00") || !strings.Contains(body, `value="5.01"`) || !strings.Contains(body, `value="再退"`) {
		t.Fatalf("refunding more than is left: HTTP %d\n%s", st, body)
	}
	d.eventually("the refund shown refunded", func() bool {
		_, body := c.get(page("wxf_cpo_0001") + "&refresh=true")
		return strings.Contains(body, "已退款")
	})

	// A merchant of the app's tenant, and another tenant's order.
	ctx := context.Background()
	var mine, other apiTenant
	for i, tn := range []*apiTenant{&mine, &other} {
		if st := d.api("POST", "/api/v1/tenants", map[string]any{"name": fmt.Sprintf("支付租户 %d", i), "contact": "店长"}, tn); st != 201 {
			t.Fatalf("create tenant: %d", st)
		}
	}
	otherApp := d.authorizeApps(2)[1].AppID // the first is app
	for a, tid := range map[string]int64{app: mine.ID, otherApp: other.ID} {
		if err := d.Platform.Store.SetAuthorizerTenant(ctx, wxfleet.Scope{}, demoPlatform.AppID, a, tid); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Platform.Store.CreatePayOrder(ctx, &wxfleet.PayOrder{ComponentAppID: demoPlatform.AppID, OutTradeNo: "wxf_cpo_b001", SubMchID: "1600000077",
		AppID: otherApp, OpenID: "oOTHERTENANTPAYER", Description: "别人的面", Amount: 900, State: wxfleet.OrderPaid, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	const pw = "merchant-password-123"
	if st := d.api("POST", "/api/v1/accounts", map[string]any{"email": "pay@shop-a.example", "role": "merchant", "tenant_id": mine.ID, "password": pw, "name": "店长"}, nil); st != 201 {
		t.Fatalf("merchant account: %d", st)
	}
	m := d.consoleAs("pay@shop-a.example", pw)
	if st, body := m.get(page("wxf_cpo_0001")); st != 200 || !strings.Contains(body, "已支付") || !strings.Contains(body, `id="refund-form"`) {
		t.Fatalf("the merchant's own order: HTTP %d\n%s", st, body)
	}
	if st, loc := m.post("/pay/orders/wxf_cpo_0001/refunds"+q+"&sub_mchid="+sub, url.Values{"amount": {"1"}}); st != http.StatusSeeOther {
		t.Fatalf("the merchant's refund: HTTP %d → %q", st, loc)
	}
	otherPage := "/pay/orders/wxf_cpo_b001" + q + "&sub_mchid=1600000077"
	if st, body := m.get(otherPage); st != 404 || strings.Contains(body, "oOTHERTENANTPAYER") || strings.Contains(body, "别人的面") {
		t.Fatalf("another tenant's order: HTTP %d", st)
	}
	if st, _ := m.post("/pay/orders/wxf_cpo_b001/refunds"+q+"&sub_mchid=1600000077", url.Values{"amount": {"1"}}); st != 404 {
		t.Fatalf("refunding another tenant's order: HTTP %d", st)
	}
	// The merchant's own API token: its orders listed and read, another tenant's a 404.
	req, _ := http.NewRequest("POST", d.Platform.URL()+"/api/v1/api-tokens", strings.NewReader(`{"name":"收银台"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", m.csrf)
	code, tokBody, _ := m.do(req)
	var tok struct {
		Token string `json:"token"`
	}
	if json.Unmarshal([]byte(tokBody), &tok); code != 201 || tok.Token == "" {
		t.Fatalf("the merchant's API token: HTTP %d %s", code, tokBody)
	}
	if st, body := d.asMerchant(tok.Token, "GET", "/api/v1/pay/orders", nil); st != 200 || !strings.Contains(body, "wxf_cpo_0001") || strings.Contains(body, "wxf_cpo_b001") {
		t.Fatalf("the merchant's orders by API: HTTP %d %s", st, body)
	}
	if st, body := d.asMerchant(tok.Token, "GET", "/api/v1/pay/orders/wxf_cpo_0001/refunds", nil); st != 200 || !strings.Contains(body, `"amount":1000`) {
		t.Fatalf("the merchant's refunds by API: HTTP %d %s", st, body)
	}
	for _, call := range [][2]string{{"GET", ""}, {"GET", "/refunds"}, {"POST", "/close"}, {"POST", "/refunds"}} {
		var body any
		if call[0] == "POST" {
			body = map[string]any{"amount": 100}
		}
		if st, _ := d.asMerchant(tok.Token, call[0], "/api/v1/pay/orders/wxf_cpo_b001"+call[1], body); st != 404 {
			t.Fatalf("%s another tenant's order%s by API: HTTP %d", call[0], call[1], st)
		}
	}
	if n := d.countRows(t, `SELECT COUNT(*) FROM webhook_events WHERE type = 'pay.closed'`); n != 1 {
		t.Fatalf("%d pay.closed events for one closed order", n)
	}
	if st, _ := m.get("/pay" + q); st != 403 {
		t.Fatalf("the staff's pay page as a merchant: HTTP %d", st)
	}
	if fs, err := d.Platform.Store.PayRefunds(ctx, demoPlatform.AppID, "1600000077", "wxf_cpo_b001"); err != nil || len(fs) != 0 {
		t.Fatalf("another tenant's refunds: %+v %v", fs, err)
	}
}

// A test order from the console: placed for a user of a bound mini program
// (a refused amount shown with the input kept), audit-logged, its page says
// it can be paid; the sandbox pays it and the page shows it paid, the
// notification stored once.
func TestConsolePayTestOrder(t *testing.T) {
	d := bootDemo(t)
	app, sub, _ := payReady(t, d, "wxf_cto_1")
	c := d.console()
	q := "?platform=" + demoPlatform.AppID
	if _, body := c.get("/pay" + q); !strings.Contains(body, `<option value="`+app+`"`) || !strings.Contains(body, `value="0.01"`) {
		t.Fatalf("the pay page offers no test order for %s:\n%s", app, body)
	}
	const payer = "oPAYUSER000000000000000002"
	form := url.Values{"appid": {app}, "openid": {payer}, "amount": {"0"}, "description": {"测试订单 test order"}}
	if st, body := c.post("/pay/test-orders"+q, form); st != 400 || !strings.Contains(body, `id="test-order-error"`) || !strings.Contains(body, `value="`+payer+`"`) {
		t.Fatalf("a test order of 0 yuan: HTTP %d\n%s", st, body)
	}
	form.Set("amount", "0.01")
	st, loc := c.post("/pay/test-orders"+q, form)
	m := regexp.MustCompile(`^/pay/orders/([0-9a-f]{32})\?platform=` + demoPlatform.AppID + `&sub_mchid=` + sub + `&placed=1$`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("test order: HTTP %d → %q", st, loc)
	}
	no := m[1]
	if _, body := c.get(loc); !strings.Contains(body, `id="placed"`) || !strings.Contains(body, `id="payable"`) || !strings.Contains(body, "0.01") ||
		!strings.Contains(body, payer) || !strings.Contains(body, "未支付") {
		t.Fatalf("the test order's page:\n%s", body)
	}
	if n := d.countRows(t, `SELECT COUNT(*) FROM audit_log WHERE action = 'pay.order.test' AND target = '`+no+`'`); n != 1 {
		t.Fatalf("%d audit entries for the test order", n)
	}
	if st := d.sandbox("POST", "/sandbox/api/pay/orders/"+no+"/pay", map[string]any{"sub_mchid": sub}, nil); st != 200 {
		t.Fatalf("sandbox pay: %d", st)
	}
	page := "/pay/orders/" + no + q + "&sub_mchid=" + sub
	d.eventually("the test order shown paid", func() bool {
		_, body := c.get(page)
		return strings.Contains(body, "已支付") && strings.Contains(body, `id="transaction-id"`)
	})
	ns, err := d.Platform.Store.PayNotifications(context.Background(), wxfleet.Scope{}, demoPlatform.AppID, sub, no)
	if err != nil || len(ns) != 1 || ns[0].EventType != "TRANSACTION.SUCCESS" {
		t.Fatalf("notifications of the test order: %+v %v", ns, err)
	}
}
