package sandbox

import (
	"net/http/httptest"
	"testing"
)

// Query and close answer WeChat Pay's errors: an unknown order is 404
// ORDER_NOT_EXIST, missing parameters PARAM_ERROR; a lost notification is
// never sent, and the query still tells the order is paid.
func TestPayQueryCloseStrict(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	sub := c.subMerchant("biz_query_1", "wxapp1")
	base := "/v3/pay/partner/transactions/out-trade-no/"
	st, out := c.call("GET", base+"order_none?sp_mchid="+c.m["sp_mchid"]+"&sub_mchid="+sub, nil, "", nil)
	wantPayErr(t, st, out, 404, "ORDER_NOT_EXIST")
	st, out = c.call("GET", base+"order_none?sp_mchid="+c.m["sp_mchid"], nil, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")
	st, out = c.call("POST", base+"order_none/close", map[string]string{"sp_mchid": c.m["sp_mchid"], "sub_mchid": sub}, "", nil)
	wantPayErr(t, st, out, 404, "ORDER_NOT_EXIST")
	st, out = c.call("POST", base+"order_none/close", map[string]string{"sp_mchid": c.m["sp_mchid"]}, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")
	st, out = c.call("POST", base+"order_none/close", nil, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")

	sink := &notifySink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	b := c.order(sub, "wxapp1", "order_lost_1", 500)
	b["notify_url"] = srv.URL + "/pay/notify"
	if st, out := c.call("POST", "/v3/pay/partner/transactions/jsapi", b, "", nil); st != 200 {
		t.Fatalf("order: %d %v", st, out)
	}
	st, paid := e.do("POST", "/sandbox/api/pay/orders/order_lost_1/pay", map[string]any{"sub_mchid": sub, "lose_notification": true})
	if st != 200 {
		t.Fatalf("pay: %d %v", st, paid)
	}
	st, out = c.call("GET", base+"order_lost_1?sp_mchid="+c.m["sp_mchid"]+"&sub_mchid="+sub, nil, "", nil)
	if st != 200 || out["trade_state"] != "SUCCESS" || out["transaction_id"] != paid["transaction_id"] {
		t.Fatalf("query of the paid order: %d %v", st, out)
	}
	e.advance("48h") // every retry would be due by now
	_, log := e.do("GET", "/sandbox/api/pay/notifications", nil)
	items, _ := log["items"].([]any)
	if len(items) != 1 || len(items[0].(map[string]any)["attempts"].([]any)) != 0 || sink.count() != 0 {
		t.Fatalf("the lost notification: %v, %d deliveries", log, sink.count())
	}
	// Resending it still reaches the notify_url.
	if st, out := e.do("POST", "/sandbox/api/pay/notifications/"+str(paid, "notification_id")+"/resend", nil); st != 200 || sink.count() != 1 {
		t.Fatalf("resend: %d %v, %d deliveries", st, out, sink.count())
	}
}
