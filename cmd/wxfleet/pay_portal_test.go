package main

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
)

// applymentFields is the structured onboarding form as a person fills it
// (web/templates/applyment_form.html), for the mini program appid.
func applymentFields(appid string) url.Values {
	return url.Values{
		"subject_type": {"SUBJECT_TYPE_INDIVIDUAL"},
		"contact_name": {"李四"}, "contact_id_number": {"110101199105060023"}, "mobile_phone": {"13912345678"}, "contact_email": {"boss@noodle.example"},
		"license_number": {"92330100MA2EXAMPLE"}, "merchant_name": {"李四面馆"}, "legal_person": {"李四"}, "license_copy": {"media-licence-1"},
		"id_card_name": {"李四"}, "id_card_number": {"110101199105060023"}, "id_card_copy": {"media-front-1"}, "id_card_national": {"media-back-1"},
		"merchant_shortname": {"李四面馆"}, "service_phone": {"0571-88880000"}, "appid": {appid},
		"settlement_id": {"719"}, "qualification_type": {"餐饮"},
		"bank_account_type": {"BANK_ACCOUNT_TYPE_PERSONAL"}, "account_bank": {"工商银行"}, "account_name": {"李四"},
		"account_number": {"6222020000000001"}, "bank_address_code": {"330100"},
	}
}

// receivedApplyment is what the sandbox's WeChat Pay received: the form as
// sent (sensitive fields encrypted) and those fields as it decrypted them.
type receivedApplyment struct {
	Form struct {
		ContactInfo struct {
			MobilePhone     string `json:"mobile_phone"`
			ContactIDNumber string `json:"contact_id_number"`
		} `json:"contact_info"`
		SubjectInfo struct {
			SubjectType string `json:"subject_type"`
			License     struct {
				MerchantName string `json:"merchant_name"`
			} `json:"business_license_info"`
		} `json:"subject_info"`
		BusinessInfo struct {
			Shortname string `json:"merchant_shortname"`
			SalesInfo struct {
				Scenes []string `json:"sales_scenes_type"`
				Mini   struct {
					SubAppID string `json:"mini_program_sub_appid"`
				} `json:"mini_program_info"`
			} `json:"sales_info"`
		} `json:"business_info"`
		Bank struct {
			AccountNumber string `json:"account_number"`
		} `json:"bank_account_info"`
	} `json:"form"`
	Decrypted   map[string]string `json:"decrypted"`
	Submissions int               `json:"submissions"`
}

func (d *testDemo) received(code string) (int, receivedApplyment) {
	d.t.Helper()
	var got receivedApplyment
	st := d.sandbox("GET", "/sandbox/api/pay/applyments/"+code, nil, &got)
	return st, got
}

// checkReceived fails unless WeChat Pay got the structured form's fields,
// the sensitive ones encrypted and decrypting to what was typed.
func (d *testDemo) checkReceived(code, appid string) {
	d.t.Helper()
	st, got := d.received(code)
	f := got.Form
	if st != 200 || f.SubjectInfo.SubjectType != "SUBJECT_TYPE_INDIVIDUAL" || f.SubjectInfo.License.MerchantName != "李四面馆" ||
		f.BusinessInfo.Shortname != "李四面馆" || len(f.BusinessInfo.SalesInfo.Scenes) != 1 || f.BusinessInfo.SalesInfo.Scenes[0] != "SALES_SCENES_MINI_PROGRAM" ||
		f.BusinessInfo.SalesInfo.Mini.SubAppID != appid {
		d.t.Fatalf("WeChat Pay received (HTTP %d) %+v", st, f)
	}
	if f.ContactInfo.MobilePhone == "" || strings.Contains(f.ContactInfo.MobilePhone, "13912345678") || strings.Contains(f.Bank.AccountNumber, "6222020000000001") {
		d.t.Fatalf("a sensitive field reached WeChat Pay in the clear: %+v", f)
	}
	for path, want := range map[string]string{"contact_info/mobile_phone": "13912345678", "contact_info/contact_id_number": "110101199105060023",
		"bank_account_info/account_number": "6222020000000001", "subject_info/identity_info/id_card_info/id_card_name": "李四"} {
		if got.Decrypted[path] != want {
			d.t.Errorf("WeChat Pay decrypted %s as %q, want %q", path, got.Decrypted[path], want)
		}
	}
}

// The console's structured onboarding form (staff, a tenant found by the
// name search): a missing field is refused naming it, the input kept, nothing
// sent; the filled form reaches WeChat Pay as its JSON would, the sensitive
// fields encrypted, filed under the tenant chosen.
func consoleStructuredApplyment(t *testing.T, d *testDemo, c *console, app string) {
	q := "?platform=" + demoPlatform.AppID
	var tn apiTenant
	if st := d.api("POST", "/api/v1/tenants", map[string]any{"name": "李四面馆"}, &tn); st != 201 {
		t.Fatalf("tenant: %d", st)
	}
	if st := d.api("PUT", "/api/v1/authorizers/"+app+"/tenant", map[string]any{"tenant_id": tn.ID}, nil); st != 200 && st != 204 {
		t.Fatalf("app to tenant: %d", st)
	}
	if _, page := c.get("/pay" + q); !strings.Contains(page, `id="af-tenant" name="tenant_id"`) ||
		!strings.Contains(page, `<label for="af-mobile_phone">`) || !strings.Contains(page, `id="advanced"`) {
		t.Fatal("the pay page lacks the structured form with the tenant input")
	}
	if _, opts := c.get("/pay/tenant-options" + q + "&tenant_id=" + url.QueryEscape("李四")); !strings.Contains(opts, fmt.Sprintf(`<option value="%d">李四面馆 #%d</option>`, tn.ID, tn.ID)) {
		t.Fatalf("the tenant search does not suggest 李四面馆: %s", opts)
	}
	form := applymentFields(app)
	form.Set("business_code", "wxf_struct_1")
	form.Set("tenant_id", fmt.Sprint(tn.ID))
	form.Del("merchant_name")
	form.Set("mobile_phone", "1391234567")
	st, page := c.post("/pay/applyments"+q, form)
	if st != 400 || !strings.Contains(page, `data-field-error="merchant_name"`) || !strings.Contains(page, `data-field-error="mobile_phone"`) ||
		!strings.Contains(page, `value="0571-88880000"`) || !strings.Contains(page, fmt.Sprintf(`name="tenant_id" value="%d"`, tn.ID)) {
		t.Fatalf("a form missing merchant_name with a short mobile: HTTP %d, want 400 naming both and keeping the input:\n%s", st, page)
	}
	if st, _ := d.received("wxf_struct_1"); st != 404 {
		t.Fatalf("the refused form reached WeChat Pay: HTTP %d", st)
	}
	form.Set("merchant_name", "李四面馆")
	form.Set("mobile_phone", "13912345678")
	st, loc := c.post("/pay/applyments"+q, form)
	m := regexp.MustCompile(`^/pay/applyments/(\d+)\?`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("the structured form: HTTP %d → %q", st, loc)
	}
	d.checkReceived("wxf_struct_1", app)
	var a struct {
		TenantID *int64 `json:"tenant_id"`
		State    string `json:"state"`
	}
	if st := d.api("GET", "/api/v1/pay/applyments/"+m[1], nil, &a); st != 200 || a.TenantID == nil || *a.TenantID != tn.ID || a.State != wxfleet.ApplymentAuditing {
		t.Fatalf("the structured application: HTTP %d %+v, want tenant %d under review", st, a, tn.ID)
	}
	if _, page := c.get("/pay" + q); !strings.Contains(page, fmt.Sprintf(`<a href="/tenants/%d/pay">#%d</a>`, tn.ID, tn.ID)) {
		t.Error("the pay page does not name the application's tenant")
	}
}

// The merchant portal's WeChat Pay page: a merchant of tenant A submits its
// application through the structured form (filed under A whatever the form
// says, for A's mini program only), reads its state in plain words and
// WeChat Pay's rejection reason, resubmits, sees which of its mini programs
// is bound to which sub_mchid (the binding is the staff's) and its orders,
// each linking to the order's page. Tenant B's application, page and
// mini program are not found to it, page and API.
func TestPayPortal(t *testing.T) {
	d := bootDemo(t)
	apps := d.miniPrograms()
	mk := func(name string) int64 {
		var tn apiTenant
		if st := d.api("POST", "/api/v1/tenants", map[string]any{"name": name}, &tn); st != 201 {
			t.Fatalf("create tenant: %d", st)
		}
		return tn.ID
	}
	tenantA, tenantB := mk("A 面馆"), mk("B 面包店")
	appA, appB := apps[0].AppID, apps[1].AppID
	d.authorizeForTenant(tenantA, appA, 0)
	d.authorizeForTenant(tenantB, appB, 0)
	// B's application, by the staff through the API (filed under B by its app).
	var applB applymentView
	if st := d.api("POST", "/api/v1/pay/applyments", map[string]any{"form": payForm("wxf_portal_b"), "appid": appB}, &applB); st != 201 {
		t.Fatalf("B's application: %d", st)
	}
	const pw = "merchant-password-123"
	if st := d.api("POST", "/api/v1/accounts", map[string]any{"email": "boss@a-noodle.example", "role": "merchant", "tenant_id": tenantA, "password": pw}, nil); st != 201 {
		t.Fatalf("merchant account: %d", st)
	}
	c := d.consoleAs("boss@a-noodle.example", pw)
	payPage := fmt.Sprintf("/tenants/%d/pay", tenantA)
	if _, page := c.get(fmt.Sprintf("/tenants/%d", tenantA)); !strings.Contains(page, `href="`+payPage+`"`) {
		t.Fatal("the tenant's page does not link its pay page")
	}
	st, page := c.get(payPage)
	if st != 200 || !strings.Contains(page, `<option value="`+appA+`"`) || strings.Contains(page, appB) || strings.Contains(page, "wxf_portal_b") ||
		!strings.Contains(page, `id="submit-applyment"`) {
		t.Fatalf("the merchant's pay page: HTTP %d, want its own mini program in the form and nothing of B's:\n%s", st, page)
	}

	// Its own application, the form naming tenant B: filed under A.
	form := applymentFields(appA)
	form.Set("business_code", "wxf_portal_a")
	form.Set("tenant_id", fmt.Sprint(tenantB))
	st, loc := c.post(payPage+"/applyments", form)
	m := regexp.MustCompile(`^/tenants/\d+/pay/applyments/(\d+)\?platform=`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("the merchant's application: HTTP %d → %q", st, loc)
	}
	d.checkReceived("wxf_portal_a", appA)
	var a struct {
		TenantID *int64 `json:"tenant_id"`
	}
	if st := d.api("GET", "/api/v1/pay/applyments/"+m[1], nil, &a); st != 200 || a.TenantID == nil || *a.TenantID != tenantA {
		t.Fatalf("the merchant's application is filed under %v, want tenant %d", a.TenantID, tenantA)
	}
	if st, page := c.get(loc); st != 200 || !strings.Contains(page, "审核中") || !strings.Contains(page, "apply4ec_sign") {
		t.Fatalf("the merchant's application page: HTTP %d, want it under review with the signing link", st)
	}
	// For B's mini program, or with B's business_code: refused, nothing sent.
	other := applymentFields(appB)
	other.Set("business_code", "wxf_portal_a2")
	if st, page := c.post(payPage+"/applyments", other); st != 400 || !strings.Contains(page, `data-field-error="appid"`) {
		t.Errorf("the merchant applies for B's mini program: HTTP %d, want 400 naming the appid", st)
	}
	// B's rejected application (one that may be submitted again) is not A's to replace.
	d.decide("wxf_portal_b", map[string]string{"result": "reject", "reason": "请补充材料"})
	d.applyment(applB.ID)
	taken := applymentFields(appA)
	taken.Set("business_code", "wxf_portal_b")
	if st, page := c.post(payPage+"/applyments", taken); st != 409 || strings.Contains(page, "张三") {
		t.Errorf("the merchant resubmits B's business_code: HTTP %d, want 409 naming nothing of B's", st)
	}
	for _, code := range []string{"wxf_portal_a2"} {
		if st, _ := d.received(code); st != 404 {
			t.Errorf("%s reached WeChat Pay", code)
		}
	}
	if st, got := d.received("wxf_portal_b"); st != 200 || got.Form.BusinessInfo.Shortname != "张三面馆" || got.Submissions != 1 {
		t.Errorf("B's application at WeChat Pay changed: %d submissions, %+v", got.Submissions, got.Form.BusinessInfo)
	}

	// Rejected: the reason as WeChat Pay sent it; resubmitted from the form filled again.
	d.decide("wxf_portal_a", map[string]string{"result": "reject", "reason": "营业执照照片不清晰，请重新上传", "field": "license_copy", "field_name": "营业执照照片"})
	c.get(loc) // read from WeChat Pay
	_, page = c.get(payPage)
	if !strings.Contains(page, "已驳回") || !strings.Contains(page, "营业执照照片不清晰，请重新上传") || !strings.Contains(page, "?resubmit="+m[1]) {
		t.Fatalf("the pay page lacks the rejection with its reason and a way to resubmit:\n%s", page)
	}
	_, refill := c.get(payPage + "?resubmit=" + m[1] + "&platform=" + demoPlatform.AppID)
	if !strings.Contains(refill, `value="wxf_portal_a"`) || !strings.Contains(refill, `value="media-licence-1"`) ||
		strings.Contains(refill, "110101199105060023") || strings.Contains(refill, "6222020000000001") {
		t.Fatal("the resubmit form is not filled with the application (or shows its sensitive fields)")
	}
	form.Set("license_copy", "media-licence-2")
	if st, loc2 := c.post(payPage+"/applyments", form); st != http.StatusSeeOther || loc2 != loc {
		t.Fatalf("resubmit: HTTP %d → %q, want %q", st, loc2, loc)
	}
	// Approved; the staff bind A's mini program; an order is paid.
	d.decide("wxf_portal_a", map[string]string{"result": "approve"})
	c.get(loc)
	var done applymentView
	d.api("GET", "/api/v1/pay/applyments/"+m[1], nil, &done)
	if done.SubMchID == "" {
		t.Fatalf("finished without a sub_mchid: %+v", done)
	}
	if st, _ := c.post("/pay/sub-merchants?platform="+demoPlatform.AppID, url.Values{"sub_mchid": {done.SubMchID}, "appid": {appA}}); st != 403 {
		t.Errorf("the merchant binds its mini program: HTTP %d, want 403 (the staff's)", st)
	}
	if st := d.api("POST", "/api/v1/pay/sub-merchants", map[string]string{"sub_mchid": done.SubMchID, "appid": appA}, nil); st != 200 {
		t.Fatalf("bind: %d", st)
	}
	d.sandbox("POST", "/sandbox/api/pay/sub-merchants/"+done.SubMchID+"/appids", map[string]string{"appid": appA}, nil)
	user := d.loginCode(appA, map[string]string{"openid": "oPORTALUSER0000000000000001"})
	_, _, token := d.runtimeLogin(appA, user.Code)
	if st, _, raw := d.runtime("POST", "/runtime/v1/pay/orders", token, nil, map[string]any{"description": "牛肉面", "amount": 1800, "out_trade_no": "wxf_portal_o1"}); st != 200 {
		t.Fatalf("order: %d %s", st, raw)
	}
	_, page = c.get(payPage)
	orderLink := "/pay/orders/wxf_portal_o1?platform=" + demoPlatform.AppID + "&sub_mchid=" + done.SubMchID
	if !strings.Contains(page, "已完成") || !strings.Contains(page, `<code class="sub-mchid">`+done.SubMchID+`</code>`) ||
		!strings.Contains(html.UnescapeString(page), `href="`+orderLink+`"`) || !strings.Contains(page, "18.00") {
		t.Fatalf("the pay page lacks the finished application, the binding or the order linking %s:\n%s", orderLink, page)
	}

	// Tenant B's: not found, page and API.
	for _, p := range []string{fmt.Sprintf("/tenants/%d/pay", tenantB), fmt.Sprintf("/tenants/%d/pay/applyments/%d?platform=%s", tenantA, applB.ID, demoPlatform.AppID)} {
		if st, page := c.get(p); st != 404 || strings.Contains(page, "wxf_portal_b") {
			t.Errorf("merchant A GET %s: HTTP %d, want 404", p, st)
		}
	}
	if st, _ := c.post(fmt.Sprintf("/tenants/%d/pay/applyments", tenantB), applymentFields(appB)); st != 404 {
		t.Errorf("merchant A applies on B's page: HTTP %d, want 404", st)
	}
	req, _ := http.NewRequest("POST", d.Platform.URL()+"/api/v1/api-tokens", strings.NewReader(`{"name":"进件"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf)
	_, tokBody, _ := c.do(req)
	var tok struct {
		Token string `json:"token"`
	}
	json.Unmarshal([]byte(tokBody), &tok)
	if st, body := d.asMerchant(tok.Token, "GET", "/api/v1/pay/applyments/"+m[1], nil); st != 200 || !strings.Contains(body, `"state":"APPLYMENT_STATE_FINISHED"`) {
		t.Errorf("the merchant reads its application by API: HTTP %d %s", st, body)
	}
	if st, body := d.asMerchant(tok.Token, "GET", fmt.Sprintf("/api/v1/pay/applyments/%d", applB.ID), nil); st != 404 || strings.Contains(body, "wxf_portal_b") {
		t.Errorf("the merchant reads B's application by API: HTTP %d %s, want 404", st, body)
	}
}
