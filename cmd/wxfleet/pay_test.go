package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

// payForm is a sub-merchant application as the operator sends it: the
// sensitive fields in the clear (the platform encrypts them).
func payForm(code string) map[string]any {
	return map[string]any{
		"business_code": code,
		"contact_info":  map[string]any{"contact_name": "张三", "mobile_phone": "13900000000", "contact_email": "shop@example.com"},
		"subject_info": map[string]any{"subject_type": "SUBJECT_TYPE_INDIVIDUAL",
			"business_license_info": map[string]any{"license_copy": "media-license", "license_number": "92440300MA5EXAMPLE", "merchant_name": "张三面馆", "legal_person": "张三"},
			"identity_info": map[string]any{"id_doc_type": "IDENTIFICATION_TYPE_IDCARD", "id_card_info": map[string]any{
				"id_card_copy": "media-front", "id_card_national": "media-back", "id_card_name": "张三", "id_card_number": "110101199003070000"}}},
		"business_info":     map[string]any{"merchant_shortname": "张三面馆", "service_phone": "0755-00000000", "sales_info": map[string]any{"sales_scenes_type": []string{"SALES_SCENES_MINI_PROGRAM"}}},
		"settlement_info":   map[string]any{"settlement_id": "719", "qualification_type": "餐饮"},
		"bank_account_info": map[string]any{"bank_account_type": "BANK_ACCOUNT_TYPE_PERSONAL", "account_name": "张三", "account_bank": "工商银行", "bank_address_code": "110000", "account_number": "6222000000000000"},
	}
}

type applymentView struct {
	ID          int64  `json:"id"`
	State       string `json:"state"`
	SubMchID    string `json:"sub_mchid"`
	AuditDetail []struct {
		Field        string `json:"field"`
		RejectReason string `json:"reject_reason"`
	} `json:"audit_detail"`
}

func (d *testDemo) submitApplyment(code, appid string) applymentView {
	d.t.Helper()
	var a applymentView
	if st := d.api("POST", "/api/v1/pay/applyments", map[string]any{"form": payForm(code), "appid": appid}, &a); st != 201 {
		d.t.Fatalf("submit %s: %d %+v", code, st, a)
	}
	return a
}

func (d *testDemo) applyment(id int64) applymentView {
	d.t.Helper()
	var a applymentView
	if st := d.api("GET", fmt.Sprintf("/api/v1/pay/applyments/%d", id), nil, &a); st != 200 {
		d.t.Fatalf("applyment %d: %d", id, st)
	}
	return a
}

func (d *testDemo) decide(code string, body map[string]string) {
	d.t.Helper()
	if st := d.sandbox("POST", "/sandbox/api/pay/applyments/"+code+"/decide", body, nil); st != 200 {
		d.t.Fatalf("decide %s: %d", code, st)
	}
}

// Onboarding: submit → auditing → rejected with WeChat Pay's reason →
// resubmitted under the same business_code → finished with a sub_mchid. The
// sensitive fields reach WeChat Pay encrypted (the sandbox refuses them in
// the clear) and rest sealed in the platform's database.
func TestPayOnboarding(t *testing.T) { payOnboarding(t, bootDemo(t), "") }

func TestPayOnboardingOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	payOnboarding(t, bootDemoWith(t, func(o *demoOptions) { o.Database = dsn }), dsn)
}

// payOnboarding drives the demo d; postgres is its database's DSN, "" for SQLite.
func payOnboarding(t *testing.T, d *testDemo, postgres string) {
	app := d.authorizeApps(1)[0].AppID
	a := d.submitApplyment("wxf_onboard_1", app)
	if a.State != wxfleet.ApplymentAuditing || a.ID == 0 {
		t.Fatalf("submitted %+v", a)
	}
	if got := d.applyment(a.ID); got.State != wxfleet.ApplymentAuditing {
		t.Fatalf("refreshed %+v", got)
	}
	// While audited, the same business_code is refused.
	if st := d.api("POST", "/api/v1/pay/applyments", map[string]any{"form": payForm("wxf_onboard_1")}, nil); st != 409 {
		t.Fatalf("resubmitting an audited application: %d", st)
	}
	d.decide("wxf_onboard_1", map[string]string{"result": "reject", "reason": "身份证国徽面照片模糊，请重新上传", "field": "id_card_national", "field_name": "身份证国徽面"})
	rej := d.applyment(a.ID)
	if rej.State != wxfleet.ApplymentRejected || len(rej.AuditDetail) != 1 ||
		rej.AuditDetail[0].RejectReason != "身份证国徽面照片模糊，请重新上传" || rej.AuditDetail[0].Field != "id_card_national" {
		t.Fatalf("rejected %+v", rej)
	}
	again := d.submitApplyment("wxf_onboard_1", app)
	if again.ID != a.ID || again.State != wxfleet.ApplymentAuditing || len(again.AuditDetail) != 0 {
		t.Fatalf("resubmitted %+v (first %d)", again, a.ID)
	}
	d.decide("wxf_onboard_1", map[string]string{"result": "approve", "state": "TO_BE_SIGNED"})
	if got := d.applyment(a.ID); got.State != wxfleet.ApplymentToBeSigned || got.SubMchID != "" {
		t.Fatalf("to be signed %+v", got)
	}
	d.decide("wxf_onboard_1", map[string]string{"result": "approve"})
	done := d.applyment(a.ID)
	if done.State != wxfleet.ApplymentFinished || done.SubMchID == "" {
		t.Fatalf("finished %+v", done)
	}

	// At rest: the form sealed (no id number, no account number in the clear).
	var form string
	if err := d.rawDB(t, postgres).QueryRowContext(t.Context(), `SELECT form_sealed FROM pay_applyments WHERE id = $1`, a.ID).Scan(&form); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(form, "110101199003070000") || strings.Contains(form, "6222000000000000") || form == "" {
		t.Fatal("the application form rests in the clear")
	}
	var key string
	if err := d.rawDB(t, postgres).QueryRowContext(t.Context(), `SELECT private_key_sealed FROM pay_merchants`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(key, "PRIVATE KEY") {
		t.Fatal("the merchant's private key rests in the clear")
	}
}

// The payment journey: an authorized app bound to a finished sub-merchant;
// a user logs in through the runtime API, the mini program creates an order
// and gets wx.requestPayment's parameters, signed with the merchant key; the
// user pays in the sandbox, whose notification is verified, decrypted and
// stored once even when it is sent again; the order shows paid. A forged
// notification is refused and stores nothing.
func TestPayEndToEnd(t *testing.T) { payEndToEnd(t, bootDemo(t), "") }

func TestPayEndToEndOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	payEndToEnd(t, bootDemoWith(t, func(o *demoOptions) { o.Database = dsn }), dsn)
}

func payEndToEnd(t *testing.T, d *testDemo, postgres string) {
	app := d.authorizeApps(1)[0].AppID
	var merchant struct {
		PublicKey string `json:"merchant_public_key"`
		KeyID     string `json:"wechatpay_public_key_id"`
		APIv3Key  string `json:"apiv3_key"`
	}
	d.sandbox("GET", "/sandbox/api/pay/merchant", nil, &merchant)

	a := d.submitApplyment("wxf_e2e_1", app)
	d.decide("wxf_e2e_1", map[string]string{"result": "approve"})
	sub := d.applyment(a.ID).SubMchID
	if sub == "" {
		t.Fatal("no sub_mchid")
	}

	user := d.loginCode(app, map[string]string{"openid": "oPAYUSER000000000000000001"})
	st, _, token := d.runtimeLogin(app, user.Code)
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	order := func(body map[string]any) (int, []byte) {
		st, _, raw := d.runtime("POST", "/runtime/v1/pay/orders", token, nil, body)
		return st, raw
	}
	// Not bound yet: refused, WeChat Pay not asked.
	if st, raw := order(map[string]any{"description": "牛肉面", "amount": 1500}); st != 409 {
		t.Fatalf("order before binding: %d %s", st, raw)
	}
	if st := d.api("POST", "/api/v1/pay/sub-merchants", map[string]string{"sub_mchid": sub, "appid": app}, nil); st != 200 {
		t.Fatalf("bind: %d", st)
	}
	// Bound here but not at WeChat Pay (the merchant platform): WeChat Pay's NO_AUTH.
	if st, raw := order(map[string]any{"description": "牛肉面", "amount": 1500}); st != 403 || !strings.Contains(string(raw), "NO_AUTH") {
		t.Fatalf("order bound only on the platform: %d %s", st, raw)
	}
	if st := d.sandbox("POST", "/sandbox/api/pay/sub-merchants/"+sub+"/appids", map[string]string{"appid": app}, nil); st != 200 {
		t.Fatalf("sandbox bind: %d", st)
	}
	if st, _, _ := d.runtime("POST", "/runtime/v1/pay/orders", "", nil, map[string]any{"description": "x", "amount": 1}); st != 401 {
		t.Fatalf("order without a session: %d", st)
	}
	if st, raw := order(map[string]any{"description": "牛肉面", "amount": 0}); st != 400 {
		t.Fatalf("zero amount: %d %s", st, raw)
	}
	st, raw := order(map[string]any{"description": "牛肉面", "amount": 1500, "out_trade_no": "wxf_order_0001"})
	if st != 200 {
		t.Fatalf("order: %d %s", st, raw)
	}
	var rp struct {
		OutTradeNo string `json:"out_trade_no"`
		TimeStamp  string `json:"timeStamp"`
		NonceStr   string `json:"nonceStr"`
		Package    string `json:"package"`
		SignType   string `json:"signType"`
		PaySign    string `json:"paySign"`
	}
	json.Unmarshal(raw, &rp)
	if rp.OutTradeNo != "wxf_order_0001" || rp.SignType != "RSA" || !strings.HasPrefix(rp.Package, "prepay_id=wx") || rp.NonceStr == "" {
		t.Fatalf("requestPayment %s", raw)
	}
	// paySign: SHA256withRSA over appId\ntimeStamp\nnonceStr\npackage\n, appId the mini program (sub_appid).
	b, _ := pem.Decode([]byte(merchant.PublicKey))
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(rp.PaySign)
	sum := sha256.Sum256([]byte(app + "\n" + rp.TimeStamp + "\n" + rp.NonceStr + "\n" + rp.Package + "\n"))
	if rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig) != nil {
		t.Fatal("paySign does not verify with the merchant public key over the sub_appid")
	}
	// The same out_trade_no with other content is refused.
	if st, raw := order(map[string]any{"description": "牛肉面", "amount": 999, "out_trade_no": "wxf_order_0001"}); st != 409 {
		t.Fatalf("reused out_trade_no: %d %s", st, raw)
	}

	type orderList struct {
		Items []struct {
			OutTradeNo    string `json:"out_trade_no"`
			State         string `json:"state"`
			TransactionID string `json:"transaction_id"`
			OpenID        string `json:"openid"`
		} `json:"items"`
	}
	var list orderList
	d.api("GET", "/api/v1/pay/orders?appid="+app, nil, &list)
	if len(list.Items) != 1 || list.Items[0].State != "NOTPAY" || list.Items[0].OpenID != user.OpenID || list.Items[0].OutTradeNo != "wxf_order_0001" {
		t.Fatalf("orders before paying %+v", list)
	}

	// The user pays; the sandbox notifies.
	var paid struct {
		TransactionID  string `json:"transaction_id"`
		NotificationID string `json:"notification_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/pay/orders/wxf_order_0001/pay", map[string]string{"sub_mchid": sub}, &paid); st != 200 {
		t.Fatalf("pay: %d", st)
	}
	d.eventually("the order paid", func() bool {
		var l orderList
		d.api("GET", "/api/v1/pay/orders?appid="+app, nil, &l)
		return len(l.Items) == 1 && l.Items[0].State == "SUCCESS" && l.Items[0].TransactionID == paid.TransactionID
	})
	type notifLog struct {
		Items []struct {
			ID       string `json:"id"`
			Acked    bool   `json:"acked"`
			Attempts []struct {
				Status int `json:"status"`
			} `json:"attempts"`
		} `json:"items"`
	}
	d.eventually("the notification acknowledged", func() bool {
		var l notifLog
		d.sandbox("GET", "/sandbox/api/pay/notifications", nil, &l)
		return len(l.Items) == 1 && l.Items[0].Acked
	})
	// WeChat Pay sends it again (a lost acknowledgement): acknowledged, stored once.
	for range 2 {
		var at struct {
			Status int `json:"status"`
		}
		if st := d.sandbox("POST", "/sandbox/api/pay/notifications/"+paid.NotificationID+"/resend", nil, &at); st != 200 || at.Status != 204 {
			t.Fatalf("resend: %d, the platform answered %d", st, at.Status)
		}
	}
	stored, err := d.Platform.Store.PayNotifications(context.Background(), wxfleet.Scope{}, demoPlatform.AppID, sub, "wxf_order_0001")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].ID != paid.NotificationID || stored[0].TransactionID != paid.TransactionID ||
		!strings.Contains(string(stored[0].Resource), `"trade_state":"SUCCESS"`) {
		t.Fatalf("stored notifications %+v", stored)
	}

	// Forged notifications → 401, nothing stored: signed by another key under
	// the real key id, a stale timestamp, an unknown key id.
	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := []byte(`{"id":"EV-FORGED","create_time":"2026-01-01T00:00:00+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"","nonce":"","associated_data":"transaction"}}`)
	now := time.Now().Unix()
	for _, c := range []struct {
		name, serial string
		ts           int64
	}{{"another key", merchant.KeyID, now}, {"stale", merchant.KeyID, now - 600}, {"unknown key id", "PUB_KEY_ID_nobody", now}} {
		ts := strconv.FormatInt(c.ts, 10)
		sum := sha256.Sum256([]byte(ts + "\nnonce-1\n" + string(forged) + "\n"))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, forger, crypto.SHA256, sum[:])
		req, _ := http.NewRequest("POST", d.Platform.URL()+"/pay/notify", bytes.NewReader(forged))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Wechatpay-Serial", c.serial)
		req.Header.Set("Wechatpay-Timestamp", ts)
		req.Header.Set("Wechatpay-Nonce", "nonce-1")
		req.Header.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("forged notification (%s): HTTP %d", c.name, res.StatusCode)
		}
	}
	if logs := d.log.String(); strings.Contains(logs, merchant.APIv3Key) || strings.Contains(logs, "PRIVATE KEY") {
		t.Error("the APIv3 key or the merchant private key appears in the log")
	}
	var n int
	if err := d.rawDB(t, postgres).QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pay_notifications`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d notifications stored (%v)", n, err)
	}
}

// rawDB opens the demo's database (PostgreSQL when postgres is its DSN,
// else its SQLite file, read-only) to look at what rests there.
func (d *testDemo) rawDB(t *testing.T, postgres string) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite", "file:"+filepath.Join(d.data, "wxfleet.db")+"?_pragma=busy_timeout(5000)&mode=ro"
	if postgres != "" {
		driver, dsn = "pgx", postgres
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// WXFLEET_PAY_*: none → nothing configured; a partial set names what is
// missing; the private key read from its _FILE.
func TestPaySettings(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "apiclient_key.pem")
	if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := map[string]string{"WXFLEET_PAY_MCHID": "1900000109", "WXFLEET_PAY_APPID": "wxsp", "WXFLEET_PAY_CERT_SERIAL": "ABC",
		"WXFLEET_PAY_PRIVATE_KEY_FILE": keyFile, "WXFLEET_PAY_APIV3_KEY": "0123456789abcdef0123456789abcdef",
		"WXFLEET_PAY_PUBLIC_KEY_ID": "PUB_KEY_ID_1", "WXFLEET_PAY_PUBLIC_KEY": "pem"}
	without := func(k string) map[string]string {
		m := map[string]string{}
		for kk, v := range full {
			if kk != k {
				m[kk] = v
			}
		}
		return m
	}
	for _, c := range []struct {
		name string
		vars map[string]string
		want string // "" → ok; else a word of the error
	}{
		{"none", map[string]string{}, ""},
		{"full", full, ""},
		{"no serial", without("WXFLEET_PAY_CERT_SERIAL"), "WXFLEET_PAY_CERT_SERIAL"},
		{"no private key", without("WXFLEET_PAY_PRIVATE_KEY_FILE"), "WXFLEET_PAY_PRIVATE_KEY"},
		{"no merchant id", without("WXFLEET_PAY_MCHID"), "WXFLEET_PAY_MCHID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(func(k string) (string, bool) { v, ok := c.vars[k]; return v, ok })
			m, err := paySettings(e)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err %v, want one naming %s", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.vars) == 0 {
				if m != nil {
					t.Fatalf("configured %+v from nothing", m)
				}
				return
			}
			if m.SpMchID != "1900000109" || !strings.Contains(m.PrivateKey.Reveal(), "BEGIN PRIVATE KEY") || m.APIv3Key.Reveal() != full["WXFLEET_PAY_APIV3_KEY"] {
				t.Fatalf("settings %+v", m)
			}
		})
	}
}
