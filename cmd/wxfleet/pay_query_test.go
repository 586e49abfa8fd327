package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/server"
)

// payReady onboards a sub-merchant for a fresh app of d, binds it on both
// sides and logs a user in: → the app, the sub_mchid and a runtime token.
func payReady(t *testing.T, d *testDemo, code string) (app, sub, token string) {
	t.Helper()
	app = d.authorizeApps(1)[0].AppID
	a := d.submitApplyment(code, app)
	d.decide(code, map[string]string{"result": "approve"})
	sub = d.applyment(a.ID).SubMchID
	if sub == "" {
		t.Fatal("no sub_mchid")
	}
	if st := d.api("POST", "/api/v1/pay/sub-merchants", map[string]string{"sub_mchid": sub, "appid": app}, nil); st != 200 {
		t.Fatalf("bind: %d", st)
	}
	if st := d.sandbox("POST", "/sandbox/api/pay/sub-merchants/"+sub+"/appids", map[string]string{"appid": app}, nil); st != 200 {
		t.Fatalf("sandbox bind: %d", st)
	}
	user := d.loginCode(app, map[string]string{"openid": "oPAYUSER000000000000000002"})
	st, _, token := d.runtimeLogin(app, user.Code)
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	return app, sub, token
}

func (d *testDemo) payOrder(token, no string, amount int64) {
	d.t.Helper()
	st, _, raw := d.runtime("POST", "/runtime/v1/pay/orders", token, nil, map[string]any{"description": "牛肉面", "amount": amount, "out_trade_no": no})
	if st != 200 {
		d.t.Fatalf("order %s: %d %s", no, st, raw)
	}
}

// hookPayEvents subscribes a receiver to the pay events of d.
func hookPayEvents(t *testing.T, d *testDemo) *hookReceiver {
	t.Helper()
	rcv := newHookReceiver(t)
	var created struct {
		Secret string `json:"secret"`
	}
	if st := d.api("POST", "/api/v1/webhooks", map[string]any{"url": rcv.srv.URL, "events": []string{"pay.paid", "pay.refund"}}, &created); st != 201 {
		t.Fatalf("create webhook: %d", st)
	}
	rcv.mu.Lock()
	rcv.secret = created.Secret
	rcv.mu.Unlock()
	return rcv
}

// countRows runs a COUNT query on the demo's SQLite database.
func (d *testDemo) countRows(t *testing.T, q string) int {
	t.Helper()
	var n int
	if err := d.rawDB(t, "").QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type orderView struct {
	OutTradeNo     string `json:"out_trade_no"`
	State          string `json:"state"`
	TransactionID  string `json:"transaction_id"`
	TradeState     string `json:"wechatpay_trade_state"`
	TradeStateDesc string `json:"wechatpay_trade_state_desc"`
}

// Query and close through the API, and the fallback for a notification that
// never arrives: the user pays, the sandbox loses the notification (it is
// never sent), and the reconciliation job asks WeChat Pay and records the
// payment once; the notification sent afterwards stores nothing more.
func TestPayQueryCloseAndLostNotification(t *testing.T) {
	d := bootDemoWith(t, func(o *demoOptions) { o.PayReconcileAfter, o.PayReconcileInterval = time.Second, time.Second })
	rcv := hookPayEvents(t, d)
	app, sub, token := payReady(t, d, "wxf_query_1")
	d.payOrder(token, "wxf_close_0001", 800)
	d.payOrder(token, "wxf_lost_0001", 1500)

	var o orderView
	if st := d.api("GET", "/api/v1/pay/orders/wxf_nope_0001", nil, nil); st != 404 {
		t.Fatalf("unknown order: %d", st)
	}
	if st := d.api("GET", "/api/v1/pay/orders/wxf_close_0001?refresh=maybe", nil, nil); st != 400 {
		t.Fatalf("refresh=maybe: %d", st)
	}
	if st := d.api("GET", "/api/v1/pay/orders/wxf_close_0001?refresh=true", nil, &o); st != 200 || o.State != "NOTPAY" || o.TradeState != "NOTPAY" || o.TradeStateDesc == "" {
		t.Fatalf("refreshed unpaid order: %d %+v", st, o)
	}
	// Close: WeChat Pay closes it, then the user cannot pay it, nor the mini program place it again.
	if st := d.api("POST", "/api/v1/pay/orders/wxf_close_0001/close", nil, &o); st != 200 || o.State != "CLOSED" {
		t.Fatalf("close: %d %+v", st, o)
	}
	var perr struct {
		Code string `json:"code"`
	}
	if st := d.sandbox("POST", "/sandbox/api/pay/orders/wxf_close_0001/pay", map[string]string{"sub_mchid": sub}, &perr); st != 400 || perr.Code != "ORDER_CLOSED" {
		t.Fatalf("paying a closed order in the sandbox: %d %+v", st, perr)
	}
	if st := d.api("GET", "/api/v1/pay/orders/wxf_close_0001?refresh=true&sub_mchid="+sub, nil, &o); st != 200 || o.State != "CLOSED" || o.TradeState != "CLOSED" {
		t.Fatalf("refreshed closed order: %d %+v", st, o)
	}
	if st, _, raw := d.runtime("POST", "/runtime/v1/pay/orders", token, nil, map[string]any{"description": "牛肉面", "amount": 800, "out_trade_no": "wxf_close_0001"}); st != 409 {
		t.Fatalf("placing a closed order again: %d %s", st, raw)
	}

	// The lost notification.
	var paid struct {
		TransactionID  string `json:"transaction_id"`
		NotificationID string `json:"notification_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/pay/orders/wxf_lost_0001/pay", map[string]any{"sub_mchid": sub, "lose_notification": true}, &paid); st != 200 {
		t.Fatalf("pay: %d", st)
	}
	d.eventually("the reconciliation records the payment", func() bool {
		d.api("GET", "/api/v1/pay/orders/wxf_lost_0001", nil, &o)
		return o.State == "SUCCESS"
	})
	if o.TransactionID != paid.TransactionID {
		t.Fatalf("paid order %+v, WeChat Pay's transaction %s", o, paid.TransactionID)
	}
	type notifLog struct {
		Items []struct {
			ID       string            `json:"id"`
			Attempts []json.RawMessage `json:"attempts"`
		} `json:"items"`
	}
	var l notifLog
	d.sandbox("GET", "/sandbox/api/pay/notifications", nil, &l)
	for _, n := range l.Items {
		if n.ID == paid.NotificationID && len(n.Attempts) != 0 {
			t.Fatalf("the lost notification was sent: %+v", n)
		}
	}
	stored := func() []*wxfleet.PayNotification {
		t.Helper()
		ns, err := d.Platform.Store.PayNotifications(context.Background(), wxfleet.Scope{}, demoPlatform.AppID, sub, "wxf_lost_0001")
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	if ns := stored(); len(ns) != 1 || ns[0].TransactionID != paid.TransactionID || !strings.Contains(string(ns[0].Resource), `"trade_state":"SUCCESS"`) {
		t.Fatalf("stored %+v", ns)
	}
	// The notification arrives after all, twice: acknowledged, nothing stored again;
	// a refresh and further runs of the job store nothing either.
	for range 2 {
		var at struct {
			Status int `json:"status"`
		}
		if st := d.sandbox("POST", "/sandbox/api/pay/notifications/"+paid.NotificationID+"/resend", nil, &at); st != 200 || at.Status != 204 {
			t.Fatalf("resend: %d, the platform answered %d", st, at.Status)
		}
	}
	if st := d.api("GET", "/api/v1/pay/orders/wxf_lost_0001?refresh=true", nil, &o); st != 200 || o.State != "SUCCESS" || o.TradeState != "SUCCESS" {
		t.Fatalf("refreshed paid order: %d %+v", st, o)
	}
	if ns := stored(); len(ns) != 1 {
		t.Fatalf("%d notifications stored for one payment", len(ns))
	}
	// One pay.paid, from the query, delivered to the ISV's receiver; the
	// outbox holds one event for the order, whatever arrived after.
	d.eventually("pay.paid delivered", func() bool { return len(rcv.of("pay.paid", app)) > 0 })
	var ev struct {
		OutTradeNo    string `json:"out_trade_no"`
		TransactionID string `json:"transaction_id"`
		Amount        int64  `json:"amount"`
		Source        string `json:"source"`
	}
	json.Unmarshal(rcv.of("pay.paid", app)[0].Data, &ev)
	if ev.OutTradeNo != "wxf_lost_0001" || ev.TransactionID != paid.TransactionID || ev.Amount != 1500 || ev.Source != "query" {
		t.Fatalf("pay.paid %+v", ev)
	}
	if n := d.countRows(t, `SELECT COUNT(*) FROM webhook_events WHERE type = 'pay.paid'`); n != 1 {
		t.Fatalf("%d pay.paid events for one payment", n)
	}
	// A paid order cannot be closed: WeChat Pay's ORDERPAID, 409.
	if st := d.api("POST", "/api/v1/pay/orders/wxf_lost_0001/close", nil, nil); st != 409 {
		t.Fatalf("closing a paid order: %d", st)
	}
}

// WXFLEET_PAY_RECONCILE_AFTER: a duration from 1m to 2h, less than the
// auto-close's (2h by default); unset → the default.
func TestPayReconcileSetting(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "10m": 10 * time.Minute, "1m": time.Minute, "119m": 119 * time.Minute, "2h": -1, "30s": -1, "3h": -1, "soon": -1} {
		var cfg server.Config
		e := newEnv(func(k string) (string, bool) {
			if k == "WXFLEET_PAY_RECONCILE_AFTER" && v != "" {
				return v, true
			}
			return "", false
		})
		err := payReconcileSettings(e, &cfg)
		if want < 0 {
			if err == nil || !strings.Contains(err.Error(), "WXFLEET_PAY_RECONCILE_AFTER") {
				t.Errorf("%q: err %v, want one naming the setting", v, err)
			}
			continue
		}
		if err != nil || cfg.PayReconcileAfter != want {
			t.Errorf("%q: %v %v, want %v", v, cfg.PayReconcileAfter, err, want)
		}
	}
}

// WXFLEET_PAY_CLOSE_AFTER: a duration up to 24h, more than the
// reconciliation's delay (given or its default); unset → the default.
func TestPayCloseSetting(t *testing.T) {
	for _, c := range []struct {
		reconcile, close string
		want             time.Duration // -1: refused
	}{
		{"", "", 0}, {"", "3h", 3 * time.Hour}, {"", "6m", 6 * time.Minute}, {"", "5m", -1}, {"", "25h", -1}, {"", "later", -1},
		{"30m", "20m", -1}, {"30m", "", 0}, {"2h", "", -1}, {"2h", "2h1m", 2*time.Hour + time.Minute},
	} {
		var cfg server.Config
		e := newEnv(func(k string) (string, bool) {
			switch {
			case k == "WXFLEET_PAY_RECONCILE_AFTER" && c.reconcile != "":
				return c.reconcile, true
			case k == "WXFLEET_PAY_CLOSE_AFTER" && c.close != "":
				return c.close, true
			}
			return "", false
		})
		err := payReconcileSettings(e, &cfg)
		if c.want < 0 {
			if err == nil || !strings.Contains(err.Error(), "WXFLEET_PAY_CLOSE_AFTER") {
				t.Errorf("%+v: err %v, want one naming the setting", c, err)
			}
			continue
		}
		if err != nil || cfg.PayCloseAfter != c.want {
			t.Errorf("%+v: %v %v, want %v", c, cfg.PayCloseAfter, err, c.want)
		}
	}
}
