package sandbox

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// payClient is the provider's side of the tests: it signs requests with the
// merchant key the sandbox hands out and verifies answers with WeChat Pay's
// public key, written here from docs/wechat-pay.md, independent of pay.go.
type payClient struct {
	e      *testEnv
	m      map[string]string
	key    *rsa.PrivateKey
	wxPub  *rsa.PublicKey
	offset time.Duration // added to the signed timestamp
}

func newPayClient(e *testEnv) *payClient {
	e.t.Helper()
	status, m := e.do(http.MethodGet, "/sandbox/api/pay/merchant", nil)
	if status != http.StatusOK {
		e.t.Fatalf("merchant: HTTP %d", status)
	}
	c := &payClient{e: e, m: map[string]string{}}
	for k, v := range m {
		c.m[k] = fmt.Sprint(v)
	}
	b, _ := pem.Decode([]byte(c.m["private_key"]))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		e.t.Fatal(err)
	}
	c.key = k.(*rsa.PrivateKey)
	b, _ = pem.Decode([]byte(c.m["wechatpay_public_key"]))
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		e.t.Fatal(err)
	}
	c.wxPub = pub.(*rsa.PublicKey)
	return c
}

func (c *payClient) sign(method, uri, body string) string {
	ts := strconv.FormatInt(time.Now().Add(c.offset).Unix(), 10)
	nonce := randomAlnum(16)
	sum := sha256.Sum256([]byte(method + "\n" + uri + "\n" + ts + "\n" + nonce + "\n" + body + "\n"))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, sum[:])
	return fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="%s",signature="%s",timestamp="%s",serial_no="%s"`,
		c.m["sp_mchid"], nonce, base64.StdEncoding.EncodeToString(sig), ts, c.m["cert_serial"])
}

// call sends a signed request (auth "" → signed; "-" → none; else as given)
// and checks the answer's signature. It returns the status and the body.
func (c *payClient) call(method, uri string, body any, auth string, header map[string]string) (int, map[string]any) {
	t := c.e.t
	t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, c.e.srv.URL+uri, bytes.NewReader(data))
	switch auth {
	case "":
		req.Header.Set("Authorization", c.sign(method, uri, string(data)))
	case "-":
	default:
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	h := resp.Header
	if h.Get("Wechatpay-Serial") != c.m["wechatpay_public_key_id"] {
		t.Fatalf("answer's Wechatpay-Serial %q", h.Get("Wechatpay-Serial"))
	}
	sum := sha256.Sum256([]byte(h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(raw) + "\n"))
	sig, _ := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
	if rsa.VerifyPKCS1v15(c.wxPub, crypto.SHA256, sum[:], sig) != nil {
		t.Fatalf("%s %s: the answer's signature does not verify", method, uri)
	}
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("answer not JSON: %s", raw)
		}
	}
	return resp.StatusCode, out
}

func wantPayErr(t *testing.T, status int, out map[string]any, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus || out["code"] != code || out["message"] == "" {
		t.Fatalf("got HTTP %d %v, want %d %s", status, out, wantStatus, code)
	}
}

func (c *payClient) encrypt(s string) string {
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, c.wxPub, []byte(s), nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(ct)
}

// form is a complete application with its sensitive fields encrypted.
func (c *payClient) form(code string) map[string]any {
	return map[string]any{
		"business_code": code,
		"contact_info": map[string]any{"contact_name": c.encrypt("张三"), "mobile_phone": c.encrypt("13900000000"),
			"contact_email": c.encrypt("a@example.com")},
		"subject_info": map[string]any{"subject_type": "SUBJECT_TYPE_INDIVIDUAL",
			"business_license_info": map[string]any{"license_copy": "media-1", "license_number": "92440300MA5EXAMPLE", "merchant_name": "张三小吃店", "legal_person": "张三"},
			"identity_info": map[string]any{"id_doc_type": "IDENTIFICATION_TYPE_IDCARD", "id_card_info": map[string]any{
				"id_card_copy": "media-2", "id_card_national": "media-3", "id_card_name": c.encrypt("张三"), "id_card_number": c.encrypt("110101199003070000")}}},
		"business_info":     map[string]any{"merchant_shortname": "张三小吃", "service_phone": "0755-00000000", "sales_info": map[string]any{"sales_scenes_type": []string{"SALES_SCENES_MINI_PROGRAM"}}},
		"settlement_info":   map[string]any{"settlement_id": "719", "qualification_type": "餐饮"},
		"bank_account_info": map[string]any{"bank_account_type": "BANK_ACCOUNT_TYPE_PERSONAL", "account_name": c.encrypt("张三"), "account_bank": "工商银行", "bank_address_code": "110000", "account_number": c.encrypt("6222000000000000")},
	}
}

func (c *payClient) serialHeader() map[string]string {
	return map[string]string{"Wechatpay-Serial": c.m["wechatpay_public_key_id"]}
}

// subMerchant onboards a sub-merchant and binds appid to it.
func (c *payClient) subMerchant(code, appid string) string {
	t := c.e.t
	t.Helper()
	if st, out := c.call("POST", "/v3/applyment4sub/applyment/", c.form(code), "", c.serialHeader()); st != 200 {
		t.Fatalf("submit: %d %v", st, out)
	}
	st, out := c.e.do("POST", "/sandbox/api/pay/applyments/"+code+"/decide", map[string]string{"result": "approve"})
	if st != 200 {
		t.Fatalf("approve: %d %v", st, out)
	}
	sub := str(out, "sub_mchid")
	if st, out := c.e.do("POST", "/sandbox/api/pay/sub-merchants/"+sub+"/appids", map[string]string{"appid": appid}); st != 200 {
		t.Fatalf("bind: %d %v", st, out)
	}
	return sub
}

func (c *payClient) order(sub, appid, no string, total int) map[string]any {
	return map[string]any{"sp_appid": c.m["sp_appid"], "sp_mchid": c.m["sp_mchid"], "sub_appid": appid, "sub_mchid": sub,
		"description": "一碗面", "out_trade_no": no, "notify_url": "https://platform.example/pay/notify",
		"amount": map[string]any{"total": total, "currency": "CNY"}, "payer": map[string]any{"sub_openid": "o-user-1"}}
}

func TestPaySignature(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	sub := c.subMerchant("biz_sig_1", "wxapp1")
	const uri = "/v3/pay/partner/transactions/jsapi"
	body := c.order(sub, "wxapp1", "order_sig_1", 100)

	st, out := c.call("POST", uri, body, "-", nil)
	wantPayErr(t, st, out, 401, "SIGN_ERROR")
	// Signed by another key.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	real := c.key
	c.key = other
	st, out = c.call("POST", uri, body, "", nil)
	wantPayErr(t, st, out, 401, "SIGN_ERROR")
	c.key = real
	// Signed over another body: the signature covers the body.
	data, _ := json.Marshal(body)
	tampered := c.sign("POST", uri, string(data)+" ")
	st, out = c.call("POST", uri, body, tampered, nil)
	wantPayErr(t, st, out, 401, "SIGN_ERROR")
	// Ten minutes old.
	c.offset = -10 * time.Minute
	st, out = c.call("POST", uri, body, "", nil)
	wantPayErr(t, st, out, 401, "SIGN_ERROR")
	c.offset = 0
	// Another merchant id in the header.
	st, out = c.call("POST", uri, body, `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="x",signature="eA==",timestamp="1",serial_no="x"`, nil)
	wantPayErr(t, st, out, 401, "SIGN_ERROR")

	st, out = c.call("POST", uri, body, "", nil)
	if st != 200 || str(out, "prepay_id") == "" {
		t.Fatalf("signed order: %d %v", st, out)
	}
}

func TestPayJSAPIStrict(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	sub := c.subMerchant("biz_strict_1", "wxapp1")
	const uri = "/v3/pay/partner/transactions/jsapi"

	for _, field := range []string{"sp_appid", "sp_mchid", "sub_mchid", "description", "out_trade_no", "notify_url", "amount", "payer"} {
		b := c.order(sub, "wxapp1", "order_missing", 100)
		delete(b, field)
		st, out := c.call("POST", uri, b, "", nil)
		wantPayErr(t, st, out, 400, "PARAM_ERROR")
	}
	b := c.order(sub, "wxapp1", "order_both", 100)
	b["payer"] = map[string]any{"sub_openid": "o1", "sp_openid": "o2"}
	st, out := c.call("POST", uri, b, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")
	b = c.order(sub, "", "order_noappid", 100)
	delete(b, "sub_appid")
	st, out = c.call("POST", uri, b, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR") // sub_openid without sub_appid
	b = c.order(sub, "wxapp1", "no", 100)      // too short
	st, out = c.call("POST", uri, b, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")

	st, out = c.call("POST", uri, c.order("1234567", "wxapp1", "order_nosub", 100), "", nil)
	wantPayErr(t, st, out, 400, "MCH_NOT_EXISTS")
	st, out = c.call("POST", uri, c.order(sub, "wxother", "order_notbound", 100), "", nil)
	wantPayErr(t, st, out, 403, "NO_AUTH")

	st, first := c.call("POST", uri, c.order(sub, "wxapp1", "order_reuse", 100), "", nil)
	if st != 200 {
		t.Fatalf("order: %d %v", st, first)
	}
	st, again := c.call("POST", uri, c.order(sub, "wxapp1", "order_reuse", 100), "", nil)
	if st != 200 || again["prepay_id"] != first["prepay_id"] {
		t.Fatalf("the same order again: %d %v, want prepay_id %v", st, again, first["prepay_id"])
	}
	st, out = c.call("POST", uri, c.order(sub, "wxapp1", "order_reuse", 200), "", nil)
	wantPayErr(t, st, out, 400, "INVALID_REQUEST")

	q := "/v3/pay/partner/transactions/out-trade-no/order_reuse?sp_mchid=" + c.m["sp_mchid"] + "&sub_mchid=" + sub
	st, out = c.call("GET", q, nil, "", nil)
	if st != 200 || out["trade_state"] != "NOTPAY" {
		t.Fatalf("query: %d %v", st, out)
	}
	st, out = c.call("GET", "/v3/pay/partner/transactions/out-trade-no/order_reuse?sub_mchid="+sub, nil, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")

	if st, out := e.do("POST", "/sandbox/api/pay/orders/order_reuse/pay", map[string]string{"sub_mchid": sub}); st != 200 {
		t.Fatalf("pay: %d %v", st, out)
	}
	st, out = c.call("POST", uri, c.order(sub, "wxapp1", "order_reuse", 100), "", nil)
	wantPayErr(t, st, out, 400, "ORDERPAID")
	st, out = c.call("GET", q, nil, "", nil)
	if st != 200 || out["trade_state"] != "SUCCESS" || out["transaction_id"] == "" {
		t.Fatalf("query after paying: %d %v", st, out)
	}
	st, out = c.call("POST", "/v3/pay/partner/transactions/out-trade-no/order_reuse/close",
		map[string]string{"sp_mchid": c.m["sp_mchid"], "sub_mchid": sub}, "", nil)
	wantPayErr(t, st, out, 400, "ORDERPAID")

	// Close an unpaid order; it cannot be paid then.
	c.call("POST", uri, c.order(sub, "wxapp1", "order_close", 100), "", nil)
	if st, out := c.call("POST", "/v3/pay/partner/transactions/out-trade-no/order_close/close",
		map[string]string{"sp_mchid": c.m["sp_mchid"], "sub_mchid": sub}, "", nil); st != 204 {
		t.Fatalf("close: %d %v", st, out)
	}
	st, out = e.do("POST", "/sandbox/api/pay/orders/order_close/pay", map[string]string{"sub_mchid": sub})
	wantPayErr(t, st, out, 400, "ORDER_CLOSED")
}

// notifySink is a notify_url that fails the first n deliveries.
type notifySink struct {
	mu    sync.Mutex
	fail  int
	got   [][]byte
	heads []http.Header
}

func (n *notifySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, body)
	n.heads = append(n.heads, r.Header.Clone())
	if len(n.got) <= n.fail {
		w.WriteHeader(500)
		w.Write([]byte(`{"code":"FAIL","message":"not now"}`))
		return
	}
	w.WriteHeader(204)
}

func (n *notifySink) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.got)
}

func TestPayNotificationRetries(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	sub := c.subMerchant("biz_notify_1", "wxapp1")
	sink := &notifySink{fail: 2}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	b := c.order(sub, "wxapp1", "order_notify_1", 321)
	b["notify_url"] = srv.URL + "/pay/notify"
	if st, out := c.call("POST", "/v3/pay/partner/transactions/jsapi", b, "", nil); st != 200 {
		t.Fatalf("order: %d %v", st, out)
	}
	st, paid := e.do("POST", "/sandbox/api/pay/orders/order_notify_1/pay", map[string]string{"sub_mchid": sub})
	if st != 200 {
		t.Fatalf("pay: %d %v", st, paid)
	}
	waitUntil(t, "the first delivery", func() bool { return sink.count() == 1 })
	// The retry waits 15 s on the sandbox clock: nothing more until it moves.
	e.advance("16s")
	waitUntil(t, "the second delivery", func() bool { return sink.count() == 2 })
	e.advance("16s")
	waitUntil(t, "the third delivery", func() bool { return sink.count() == 3 })
	e.advance("1h")
	// The sink counts a delivery when it arrives; the sandbox records the
	// attempt once the answer is back, so the log may lag the sink a moment.
	var log map[string]any
	acked := func() bool {
		_, log = e.do("GET", "/sandbox/api/pay/notifications", nil)
		items, _ := log["items"].([]any)
		if len(items) != 1 {
			return false
		}
		n := items[0].(map[string]any)
		return n["acked"] == true && len(n["attempts"].([]any)) == 3
	}
	waitUntil(t, "the acknowledged third attempt in the log", acked)
	if sink.count() != 3 {
		t.Fatalf("log %v, %d deliveries", log, sink.count())
	}
	n := log["items"].([]any)[0].(map[string]any)

	// Every delivery is the same notification, signed and decryptable.
	sink.mu.Lock()
	body, h := sink.got[2], sink.heads[2]
	same := bytes.Equal(sink.got[0], body)
	sink.mu.Unlock()
	if !same {
		t.Fatal("a retry is not the same notification")
	}
	sum := sha256.Sum256([]byte(h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(body) + "\n"))
	sig, _ := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
	if rsa.VerifyPKCS1v15(c.wxPub, crypto.SHA256, sum[:], sig) != nil {
		t.Fatal("notification signature does not verify")
	}
	var env struct {
		ID        string `json:"id"`
		EventType string `json:"event_type"`
		Resource  struct {
			Ciphertext, Nonce, AssociatedData string
		} `json:"resource"`
	}
	json.Unmarshal(body, &env)
	var res map[string]string
	json.Unmarshal(body, &struct {
		R *map[string]string `json:"resource"`
	}{&res})
	block, _ := aes.NewCipher([]byte(c.m["apiv3_key"]))
	gcm, _ := cipher.NewGCM(block)
	ct, _ := base64.StdEncoding.DecodeString(res["ciphertext"])
	plain, err := gcm.Open(nil, []byte(res["nonce"]), ct, []byte(res["associated_data"]))
	if err != nil {
		t.Fatal(err)
	}
	var tx map[string]any
	json.Unmarshal(plain, &tx)
	if env.EventType != "TRANSACTION.SUCCESS" || env.ID != n["id"] || tx["out_trade_no"] != "order_notify_1" ||
		tx["transaction_id"] != paid["transaction_id"] || tx["trade_state"] != "SUCCESS" || tx["sub_appid"] != "wxapp1" {
		t.Fatalf("notification %s / %v", body, tx)
	}
	// A resend from the control API reaches the sink again.
	if st, out := e.do("POST", "/sandbox/api/pay/notifications/"+env.ID+"/resend", nil); st != 200 || out["status"] != json.Number("204") {
		t.Fatalf("resend: %d %v", st, out)
	}
	if sink.count() != 4 {
		t.Fatalf("%d deliveries after the resend", sink.count())
	}
}

func TestPayApplyment(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	const uri = "/v3/applyment4sub/applyment/"
	for _, field := range []string{"business_code", "contact_info", "subject_info", "business_info", "settlement_info", "bank_account_info"} {
		f := c.form("biz_apply_1")
		delete(f, field)
		st, out := c.call("POST", uri, f, "", c.serialHeader())
		wantPayErr(t, st, out, 400, "PARAM_ERROR")
	}
	// A sensitive field in the clear, and without Wechatpay-Serial.
	f := c.form("biz_apply_1")
	f["bank_account_info"].(map[string]any)["account_number"] = "6222000000000000"
	st, out := c.call("POST", uri, f, "", c.serialHeader())
	wantPayErr(t, st, out, 400, "PARAM_ERROR")
	st, out = c.call("POST", uri, c.form("biz_apply_1"), "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")
	// Nothing submitted under that number yet: a 400, as WeChat Pay answers.
	st, out = c.call("GET", "/v3/applyment4sub/applyment/business_code/biz_apply_1", nil, "", nil)
	wantPayErr(t, st, out, 400, "PARAM_ERROR")

	query := func() map[string]any {
		st, out := c.call("GET", "/v3/applyment4sub/applyment/business_code/biz_apply_1", nil, "", nil)
		if st != 200 {
			t.Fatalf("query: %d %v", st, out)
		}
		return out
	}
	st, out = c.call("POST", uri, c.form("biz_apply_1"), "", c.serialHeader())
	if st != 200 || out["applyment_id"] == nil {
		t.Fatalf("submit: %d %v", st, out)
	}
	if q := query(); q["applyment_state"] != applyAuditing || q["sub_mchid"] != nil {
		t.Fatalf("after submit %v", q)
	}
	// The control call shows the form as received and its sensitive fields decrypted.
	if st, got := e.do("GET", "/sandbox/api/pay/applyments/biz_apply_1", nil); st != 200 {
		t.Fatalf("received: %d %v", st, got)
	} else if dec, _ := got["decrypted"].(map[string]any); dec["bank_account_info/account_number"] != "6222000000000000" || dec["contact_info/contact_name"] != "张三" ||
		strings.Contains(fmt.Sprint(got["form"]), "6222000000000000") {
		t.Fatalf("received %v", got)
	}
	if st, _ := e.do("GET", "/sandbox/api/pay/applyments/biz_none", nil); st != 404 {
		t.Fatalf("an unknown application: %d", st)
	}
	// Submitting the same business_code while it is audited is refused.
	st, out = c.call("POST", uri, c.form("biz_apply_1"), "", c.serialHeader())
	wantPayErr(t, st, out, 400, "INVALID_REQUEST")
	e.do("POST", "/sandbox/api/pay/applyments/biz_apply_1/decide", map[string]string{"result": "reject", "reason": "身份证背面识别失败", "field": "id_card_national", "field_name": "身份证国徽面"})
	q := query()
	detail, _ := q["audit_detail"].([]any)
	if q["applyment_state"] != applyRejected || len(detail) != 1 || detail[0].(map[string]any)["reject_reason"] != "身份证背面识别失败" {
		t.Fatalf("after reject %v", q)
	}
	st, out = c.call("POST", uri, c.form("biz_apply_1"), "", c.serialHeader())
	if st != 200 {
		t.Fatalf("resubmit: %d %v", st, out)
	}
	if q := query(); q["applyment_state"] != applyAuditing || q["audit_detail"] != nil {
		t.Fatalf("after resubmit %v", q)
	}
	e.do("POST", "/sandbox/api/pay/applyments/biz_apply_1/decide", map[string]string{"result": "approve", "state": "TO_BE_SIGNED"})
	if q := query(); q["applyment_state"] != applyToSign || q["sign_url"] == "" {
		t.Fatalf("to be signed %v", q)
	}
	e.do("POST", "/sandbox/api/pay/applyments/biz_apply_1/decide", map[string]string{"result": "approve"})
	q = query()
	if q["applyment_state"] != applyFinished || q["sub_mchid"] == "" {
		t.Fatalf("finished %v", q)
	}
	// The sub-merchant survives a restart, with its binding.
	sub := q["sub_mchid"].(string)
	e.do("POST", "/sandbox/api/pay/sub-merchants/"+sub+"/appids", map[string]string{"appid": "wxapp9"})
	e.restart()
	c = newPayClient(e)
	if st, out := c.call("POST", "/v3/pay/partner/transactions/jsapi", c.order(sub, "wxapp9", "order_after_restart", 1), "", nil); st != 200 {
		t.Fatalf("order after restart: %d %v", st, out)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
