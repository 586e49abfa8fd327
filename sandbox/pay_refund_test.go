package sandbox

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// Refunds: only a paid order, never more than is left, the same
// out_refund_no refunds once; the query and the REFUND.SUCCESS
// notification tell the refund succeeded.
func TestPayRefundStrict(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	sub := c.subMerchant("biz_refund_1", "wxapp1")
	sink := &notifySink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	if st, out := c.call("POST", "/v3/pay/partner/transactions/jsapi", c.order(sub, "wxapp1", "order_refund_1", 1000), "", nil); st != 200 {
		t.Fatalf("order: %d %v", st, out)
	}
	const uri = "/v3/refund/domestic/refunds"
	refund := func(no string, amount, total int) map[string]any {
		return map[string]any{"sub_mchid": sub, "out_trade_no": "order_refund_1", "out_refund_no": no, "reason": "不想要了",
			"notify_url": srv.URL + "/pay/notify", "amount": map[string]any{"refund": amount, "total": total, "currency": "CNY"}}
	}
	st, out := c.call("POST", uri, refund("refund_1", 100, 1000), "", nil)
	wantPayErr(t, st, out, 404, "RESOURCE_NOT_EXISTS") // unpaid: the same answer as no order
	if st, out := e.do("POST", "/sandbox/api/pay/orders/order_refund_1/pay", map[string]any{"sub_mchid": sub, "lose_notification": true}); st != 200 {
		t.Fatalf("pay: %d %v", st, out)
	}
	noSub := refund("refund_1", 100, 1000)
	delete(noSub, "sub_mchid")
	st, out = c.call("POST", uri, noSub, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")
	noNo := refund("", 100, 1000)
	st, out = c.call("POST", uri, noNo, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")
	other := refund("refund_1", 100, 1000)
	other["out_trade_no"] = "order_none"
	st, out = c.call("POST", uri, other, "", nil)
	wantPayErr(t, st, out, 404, "RESOURCE_NOT_EXISTS")
	st, out = c.call("POST", uri, refund("refund_1", 100, 999), "", nil)
	wantPayErr(t, st, out, 400, "INVALID_REQUEST") // total is not the order's
	st, out = c.call("POST", uri, refund("refund_1", 1001, 1000), "", nil)
	wantPayErr(t, st, out, 400, "INVALID_REQUEST") // more than paid

	st, first := c.call("POST", uri, refund("refund_1", 600, 1000), "", nil)
	if st != 200 || first["status"] != "PROCESSING" || first["refund_id"] == "" || first["out_refund_no"] != "refund_1" {
		t.Fatalf("refund: %d %v", st, first)
	}
	st, again := c.call("POST", uri, refund("refund_1", 600, 1000), "", nil)
	if st != 200 || again["refund_id"] != first["refund_id"] {
		t.Fatalf("the same refund again: %d %v", st, again)
	}
	st, out = c.call("POST", uri, refund("refund_1", 300, 1000), "", nil)
	wantPayErr(t, st, out, 400, "INVALID_REQUEST") // the number reused for another amount
	st, out = c.call("POST", uri, refund("refund_2", 401, 1000), "", nil)
	wantPayErr(t, st, out, 400, "INVALID_REQUEST") // 400 left
	if st, out := c.call("POST", uri, refund("refund_2", 400, 1000), "", nil); st != 200 {
		t.Fatalf("the rest: %d %v", st, out)
	}
	st, out = c.call("POST", uri, refund("refund_3", 1, 1000), "", nil)
	wantPayErr(t, st, out, 400, "INVALID_REQUEST") // nothing left

	st, out = c.call("GET", uri+"/refund_1?sub_mchid="+sub, nil, "", nil)
	if st != 200 || out["status"] != "SUCCESS" || out["refund_id"] != first["refund_id"] || out["success_time"] == nil {
		t.Fatalf("query: %d %v", st, out)
	}
	st, out = c.call("GET", uri+"/refund_1", nil, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")
	st, out = c.call("GET", uri+"/refund_none?sub_mchid="+sub, nil, "", nil)
	wantPayErr(t, st, out, 404, "RESOURCE_NOT_EXISTS")
	st, out = c.call("GET", "/v3/pay/partner/transactions/out-trade-no/order_refund_1?sp_mchid="+c.m["sp_mchid"]+"&sub_mchid="+sub, nil, "", nil)
	if st != 200 || out["trade_state"] != "REFUND" {
		t.Fatalf("the refunded order: %d %v", st, out)
	}

	// Two refunds, two REFUND.SUCCESS notifications, decryptable with the APIv3 key.
	waitUntil(t, "the refund notifications", func() bool { return sink.count() == 2 })
	sink.mu.Lock()
	body := sink.got[0]
	sink.mu.Unlock()
	var env struct {
		EventType string            `json:"event_type"`
		Resource  map[string]string `json:"resource"`
	}
	json.Unmarshal(body, &env)
	block, _ := aes.NewCipher([]byte(c.m["apiv3_key"]))
	gcm, _ := cipher.NewGCM(block)
	ct, _ := base64.StdEncoding.DecodeString(env.Resource["ciphertext"])
	plain, err := gcm.Open(nil, []byte(env.Resource["nonce"]), ct, []byte(env.Resource["associated_data"]))
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	json.Unmarshal(plain, &n)
	if env.EventType != "REFUND.SUCCESS" || env.Resource["original_type"] != "refund" || n["refund_status"] != "SUCCESS" ||
		n["out_refund_no"] != "refund_1" || n["refund_id"] != first["refund_id"] || n["sub_mchid"] != sub {
		t.Fatalf("refund notification %s / %v", body, n)
	}
}

// A sub-merchant set to refuse refunds answers the code with the status
// WeChat Pay's refund table gives it, takes nothing, and refunds again once
// cleared; a refund already taken is still answered as before.
func TestPayRefundRefusal(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	sub := c.subMerchant("biz_refund_2", "wxapp1")
	if st, out := c.call("POST", "/v3/pay/partner/transactions/jsapi", c.order(sub, "wxapp1", "order_refusal_1", 1000), "", nil); st != 200 {
		t.Fatalf("order: %d %v", st, out)
	}
	if st, out := e.do("POST", "/sandbox/api/pay/orders/order_refusal_1/pay", map[string]any{"sub_mchid": sub}); st != 200 {
		t.Fatalf("pay: %d %v", st, out)
	}
	const uri = "/v3/refund/domestic/refunds"
	refund := func(no string) map[string]any {
		return map[string]any{"sub_mchid": sub, "out_trade_no": "order_refusal_1", "out_refund_no": no,
			"amount": map[string]any{"refund": 100, "total": 1000, "currency": "CNY"}}
	}
	if st, out := c.call("POST", uri, refund("refusal_0"), "", nil); st != 200 {
		t.Fatalf("refund before: %d %v", st, out)
	}
	refuse := func(code string) {
		t.Helper()
		if st, out := e.do("POST", "/sandbox/api/pay/sub-merchants/"+sub+"/refund-refusal", map[string]string{"code": code}); st != 200 {
			t.Fatalf("refusal %q: %d %v", code, st, out)
		}
	}
	if st, _ := e.do("POST", "/sandbox/api/pay/sub-merchants/"+sub+"/refund-refusal", map[string]string{"code": "ERROR"}); st != 400 {
		t.Fatalf("an unknown refusal: %d", st)
	}
	for _, w := range []struct {
		code   string
		status int
	}{{"NOT_ENOUGH", 403}, {"USER_ACCOUNT_ABNORMAL", 403}, {"FREQUENCY_LIMITED", 429}} {
		refuse(w.code)
		st, out := c.call("POST", uri, refund("refusal_1"), "", nil)
		wantPayErr(t, st, out, w.status, w.code)
	}
	if st, out := c.call("POST", uri, refund("refusal_0"), "", nil); st != 200 {
		t.Fatalf("the refund taken before, asked again: %d %v", st, out)
	}
	st, out := c.call("GET", uri+"/refusal_1?sub_mchid="+sub, nil, "", nil)
	wantPayErr(t, st, out, 404, "RESOURCE_NOT_EXISTS") // nothing was taken
	refuse("")
	if st, out := c.call("POST", uri, refund("refusal_1"), "", nil); st != 200 || out["status"] != "PROCESSING" {
		t.Fatalf("cleared: %d %v", st, out)
	}
}
