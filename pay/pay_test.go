package pay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestEncryptSensitive(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	form := map[string]any{
		"business_code":     "b1",
		"contact_info":      map[string]any{"contact_name": "张三", "mobile_phone": "13900000000", "contact_type": "LEGAL"},
		"subject_info":      map[string]any{"identity_info": map[string]any{"id_card_info": map[string]any{"id_card_number": "110101199003070000", "id_card_copy": "m"}}},
		"bank_account_info": map[string]any{"account_number": "6222", "account_bank": "工商银行"},
	}
	enc, err := encryptSensitive(form, &merchantClient{pub: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	open := func(v any) string {
		t.Helper()
		ct, err := base64.StdEncoding.DecodeString(v.(string))
		if err != nil {
			t.Fatalf("%v is not base64", v)
		}
		p, err := rsa.DecryptOAEP(sha1.New(), nil, key, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(p)
	}
	ci := enc["contact_info"].(map[string]any)
	ba := enc["bank_account_info"].(map[string]any)
	ic := enc["subject_info"].(map[string]any)["identity_info"].(map[string]any)["id_card_info"].(map[string]any)
	if open(ci["contact_name"]) != "张三" || open(ci["mobile_phone"]) != "13900000000" || open(ba["account_number"]) != "6222" ||
		open(ic["id_card_number"]) != "110101199003070000" {
		t.Fatal("a sensitive field does not decrypt to what was given")
	}
	if ci["contact_type"] != "LEGAL" || ba["account_bank"] != "工商银行" || ic["id_card_copy"] != "m" || enc["business_code"] != "b1" {
		t.Fatalf("a plain field changed: %v", enc)
	}
	if form["contact_info"].(map[string]any)["contact_name"] != "张三" {
		t.Fatal("the caller's form was changed")
	}
}

func TestRebaseKeepsPathAndQuery(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	c := &http.Client{Transport: rebase{base: base, next: http.DefaultTransport}}
	resp, err := c.Get(ProductionURL + "/v3/pay/partner/transactions/out-trade-no/n1?sp_mchid=1&sub_mchid=2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got == nil || got.URL.RequestURI() != "/v3/pay/partner/transactions/out-trade-no/n1?sp_mchid=1&sub_mchid=2" || got.Host != base.Host {
		t.Fatalf("request reached the base as %v (host %v)", got.URL, got.Host)
	}
}
