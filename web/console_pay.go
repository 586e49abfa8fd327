package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/pay"
	"github.com/wxfleet/wxfleet/store"
)

// The console's WeChat Pay page (package pay, docs/wechat-pay.md): the
// provider merchant, the sub-merchant applications (特约商户进件) with their
// state and WeChat Pay's rejection reasons, one application read again
// from WeChat Pay, an application submitted (WeChat Pay's form as JSON),
// a sub-merchant bound to a mini program, and the latest orders. The
// application form is field by field for the common cases (pay.ApplymentForm),
// WeChat Pay's JSON for the rest; a tenant's own page has the same form
// (tenant_pay.go).

func (s *Server) payPages(mux *http.ServeMux) {
	if s.Pay == nil {
		return
	}
	s.page(mux, "GET /pay", StaffRead(), s.payPage)
	s.pageCap(mux, "POST /pay/applyments", StaffWrite("pay.applyment.submit"), 64<<10, s.submitApplymentForm)
	s.page(mux, "GET /pay/applyments/{id}", StaffRead(), s.applymentPage)
	s.page(mux, "GET /pay/tenant-options", StaffRead(), s.payTenantOptions)
	s.page(mux, "POST /pay/sub-merchants", StaffWrite("pay.sub_merchant.bind"), s.bindSubMerchantForm)
	s.tenantPayPages(mux) // tenant_pay.go
	s.page(mux, "POST /pay/test-orders", StaffWrite("pay.order.test"), s.testOrderForm)
}

// applymentStates are WeChat Pay's application states in words.
var applymentStates = map[string][2]string{ // tone, label
	wxfleet.ApplymentNotUploaded: {"warn", "未提交到微信支付 not accepted by WeChat Pay yet"},
	wxfleet.ApplymentAuditing:    {"warn", "审核中 under review"},
	wxfleet.ApplymentRejected:    {"bad", "已驳回 rejected"},
	wxfleet.ApplymentToConfirm:   {"warn", "待账户验证 waiting for the account to be verified"},
	wxfleet.ApplymentToBeSigned:  {"warn", "待签约 waiting for the merchant to sign"},
	wxfleet.ApplymentSigning:     {"warn", "开通权限中 being opened"},
	wxfleet.ApplymentFinished:    {"ok", "已完成 finished"},
	wxfleet.ApplymentCanceled:    {"bad", "已作废 cancelled"},
	wxfleet.ApplymentEditing:     {"warn", "编辑中 being edited"},
}

// payForm is the onboarding form as the page holds it: the structured
// fields (F, by input name) with their errors, WeChat Pay's JSON when the
// advanced textarea was used, the tenant chosen, and a form-wide error.
type payForm struct {
	Form, TenantID string
	F              map[string]string
	Errs           pay.FieldErrors
	Err            string
	// Test is the test order form, TestErr its refusal.
	Test    testOrderForm
	TestErr string
}

// applymentFormData is what applyment_form.html needs besides the form.
func applymentFormData(data map[string]any, f payForm, action string) {
	if f.F == nil {
		f.F = map[string]string{}
	}
	data["AF"], data["AFAction"] = f, action
	data["AFSubjects"], data["AFAccountTypes"] = pay.ApplymentSubjectTypes, pay.ApplymentBankAccountTypes
}

// readApplymentForm reads the onboarding form of r: WeChat Pay's JSON when
// the advanced textarea holds some, else the structured fields, checked
// here (field by field) before anything goes to WeChat Pay. code is the
// business_code for a structured form that gives none. On error the form
// comes back as it was typed, to be shown again.
func readApplymentForm(r *http.Request, code string) (map[string]any, payForm, error) {
	f := payForm{Form: r.PostFormValue("form"), TenantID: strings.TrimSpace(r.PostFormValue("tenant_id")), F: map[string]string{}}
	var af pay.ApplymentForm
	for _, name := range pay.ApplymentFormFields() {
		af.Set(name, r.PostFormValue(name))
	}
	af.Trim()
	f.F = af.Values()
	if strings.TrimSpace(f.Form) != "" {
		var form map[string]any
		if err := json.Unmarshal([]byte(f.Form), &form); err != nil || form == nil {
			err = wxfleet.Errorf(wxfleet.EINVALID, "进件表单须是微信支付申请单的 JSON 对象 / the form must be WeChat Pay's application as a JSON object")
			f.Err = wxfleet.ErrorMessage(err)
			return nil, f, err
		}
		return form, f, nil
	}
	if f.Errs = af.Validate(); f.Errs != nil {
		names := make([]string, 0, len(f.Errs))
		for _, name := range pay.ApplymentFormFields() {
			if _, bad := f.Errs[name]; bad {
				names = append(names, name)
			}
		}
		err := wxfleet.Errorf(wxfleet.EINVALID, "请改正标出的字段：%s / fix the fields marked: %s", strings.Join(names, "、"), strings.Join(names, ", "))
		f.Err = wxfleet.ErrorMessage(err)
		return nil, f, err
	}
	return af.Build(code), f, nil
}

// newBusinessCode is a business_code for a form that gives none: ours,
// unique per platform (the tenant and the millisecond).
func (s *Server) newBusinessCode(tenantID *int64) string {
	t := int64(0)
	if tenantID != nil {
		t = *tenantID
	}
	return fmt.Sprintf("wxf%d_%d", t, s.Now().UnixMilli())
}

// testOrderForm is a test order: placed for a user of a mini program as the
// mini program would place it, so a demo can take a payment from the browser.
type testOrderForm struct {
	AppID, OpenID, Amount, Description string
}

// The test order form's defaults: the smallest amount WeChat Pay takes.
var testOrderDefaults = testOrderForm{Amount: "0.01", Description: "测试订单 test order"}

func (s *Server) payPage(w http.ResponseWriter, r *http.Request) {
	s.renderPay(w, r, http.StatusOK, payForm{}, "")
}

func (s *Server) renderPay(w http.ResponseWriter, r *http.Request, status int, f payForm, bindErr string) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	if f.Test == (testOrderForm{}) {
		f.Test = testOrderDefaults
	}
	ctx := r.Context()
	data := map[string]any{"Title": "微信支付 WeChat Pay", "Platform": comp, "Path": "/pay" + platformQuery(comp), "F": f, "BindErr": bindErr,
		"Bound": r.URL.Query().Get("bound")}
	applymentFormData(data, f, "/pay/applyments"+platformQuery(comp))
	if actor, ok := wxfleet.ActorFrom(ctx); ok && actor.Role != wxfleet.RoleViewer {
		// As the API's GET /api/v1/pay/merchant: not for viewers.
		m, err := s.Store.PayMerchant(ctx, comp)
		switch {
		case err == nil:
			data["Merchant"] = m
		case wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND:
			data["NoMerchant"] = true
		default:
			s.errorPage(w, r, "出错了 Error", err, "/")
			return
		}
		// The tenant an application is filed under: its id, typed or picked
		// from the suggestions of a name search (payTenantOptions); the
		// tenant typed before comes back named.
		data["AFTenantPick"] = true
		if id, err := strconv.ParseInt(f.TenantID, 10, 64); err == nil && id > 0 {
			if t, err := s.Store.Tenant(ctx, scopeOf(r), id); err == nil {
				data["AFTenantOptions"] = []*wxfleet.Tenant{t}
			}
		}
	}
	apps, err := s.Store.PayApplyments(ctx, scopeOf(r), comp, 100)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	items := make([]applymentJSON, len(apps))
	for i, a := range apps {
		items[i] = toApplymentJSON(a)
	}
	orders, err := s.Pay.Orders(ctx, scopeOf(r), comp, "", 50)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	bound, err := s.Store.PaySubMerchants(ctx, scopeOf(r), comp)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	data["Applyments"], data["Orders"], data["States"], data["Bindings"] = items, orders, applymentStates, bound
	s.render(w, r, status, "pay", data)
}

// submitApplymentForm submits an application (or resubmits a rejected one
// under the same business_code), filed under the tenant chosen, and shows it.
func (s *Server) submitApplymentForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/pay")
		return
	}
	req := pay.ApplymentRequest{ComponentAppID: comp, AppID: strings.TrimSpace(r.PostFormValue("appid"))}
	if v := strings.TrimSpace(r.PostFormValue("tenant_id")); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			auditSkip(r)
			_, f, _ := readApplymentForm(r, "")
			f.Err = "租户须是数字 id / tenant must be a numeric id"
			s.renderPay(w, r, http.StatusBadRequest, f, "")
			return
		}
		req.TenantID = &id
	}
	form, f, err := readApplymentForm(r, s.newBusinessCode(req.TenantID))
	if err != nil {
		auditSkip(r)
		s.renderPay(w, r, http.StatusBadRequest, f, "")
		return
	}
	req.Form = form
	a, err := s.Pay.SubmitApplyment(r.Context(), scopeOf(r), req)
	if err != nil {
		auditSkip(r)
		f.Err = wxfleet.ErrorMessage(err)
		s.renderPay(w, r, statusOfErr(err), f, "")
		return
	}
	if a.TenantID != nil {
		auditTenant(r, *a.TenantID)
	}
	auditTarget(r, comp, req.AppID, a.BusinessCode)
	http.Redirect(w, r, "/pay/applyments/"+strconv.FormatInt(a.ID, 10)+platformQuery(comp), http.StatusSeeOther)
}

// applymentPage is one application, its state read from WeChat Pay first;
// when WeChat Pay cannot be read, the stored state is shown with the reason.
func (s *Server) applymentPage(w http.ResponseWriter, r *http.Request) {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/pay")
		return
	}
	data := map[string]any{"Platform": comp, "States": applymentStates, "Back": "/pay" + platformQuery(comp)}
	a, err := s.Pay.Applyment(r.Context(), scopeOf(r), comp, id)
	if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		data["ReadErr"] = wxfleet.ErrorMessage(err)
		a, err = s.Store.PayApplyment(r.Context(), scopeOf(r), comp, id)
	}
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/pay"+platformQuery(comp))
		return
	}
	data["Title"], data["P"] = "进件 "+a.BusinessCode+" Application", toApplymentJSON(a)
	s.render(w, r, http.StatusOK, "applyment", data)
}

// bindSubMerchantForm records that a mini program's payments go to a sub-merchant.
func (s *Server) bindSubMerchantForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/pay")
		return
	}
	b := &wxfleet.PaySubMerchant{ComponentAppID: comp, AppID: strings.TrimSpace(r.PostFormValue("appid")), SubMchID: strings.TrimSpace(r.PostFormValue("sub_mchid"))}
	if err := s.Pay.Bind(r.Context(), b); err != nil {
		auditSkip(r)
		s.renderPay(w, r, statusOfErr(err), payForm{}, wxfleet.ErrorMessage(err))
		return
	}
	auditTarget(r, comp, b.AppID, b.SubMchID)
	http.Redirect(w, r, "/pay"+platformQuery(comp)+"&bound="+b.AppID, http.StatusSeeOther)
}

// openIDPattern is what an openid looks like (28 characters from WeChat;
// any short token without spaces is taken, the sandbox's included).
var openIDPattern = regexp.MustCompile(`^[0-9A-Za-z_\-]{6,64}$`)

// testOrderForm places a test order for a user of a mini program bound to a
// sub-merchant, through the same CreateOrder as the mini program's call,
// with the session that user would have (nothing is stored as a session),
// and opens the new order's page, from which the user pays it.
func (s *Server) testOrderForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/pay")
		return
	}
	t := testOrderForm{AppID: strings.TrimSpace(r.PostFormValue("appid")), OpenID: strings.TrimSpace(r.PostFormValue("openid")),
		Amount: strings.TrimSpace(r.PostFormValue("amount")), Description: strings.TrimSpace(r.PostFormValue("description"))}
	refused := func(err error) {
		auditSkip(r)
		s.renderPay(w, r, statusOfErr(err), payForm{Test: t, TestErr: wxfleet.ErrorMessage(err)}, "")
	}
	if t.AppID == "" {
		refused(wxfleet.Errorf(wxfleet.EINVALID, "请选择绑定了特约商户的小程序 / choose a mini program bound to a sub-merchant"))
		return
	}
	if !openIDPattern.MatchString(t.OpenID) {
		refused(wxfleet.Errorf(wxfleet.EINVALID, "openid 须为该小程序用户的 openid（6 到 64 位字母、数字、_ 或 -）/ openid must be a user of that mini program (6 to 64 letters, digits, _ or -)"))
		return
	}
	fen, err := parseYuan(t.Amount)
	if err != nil {
		refused(err)
		return
	}
	rs := &wxfleet.RuntimeSession{ComponentAppID: comp, AppID: t.AppID, OpenID: t.OpenID}
	rp, err := s.Pay.CreateOrder(r.Context(), rs, pay.OrderRequest{Description: t.Description, Amount: fen})
	if err != nil {
		refused(err)
		return
	}
	o, err := s.Pay.FindOrder(r.Context(), scopeOf(r), comp, "", rp.OutTradeNo)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/pay"+platformQuery(comp))
		return
	}
	auditTarget(r, comp, t.AppID, rp.OutTradeNo)
	http.Redirect(w, r, payOrderPath(o)+"&placed=1", http.StatusSeeOther)
}

// tenantOptionsLimit is how many tenants one search suggests.
const tenantOptionsLimit = 20

// payTenantOptions is the /pay form's tenant suggestions (an htmx fragment
// of <option>s for its datalist): the tenant whose id was typed, then the
// tenants whose name contains what was typed (the tenants page's search,
// store.TenantFilter.Q), at most tenantOptionsLimit.
func (s *Server) payTenantOptions(w http.ResponseWriter, r *http.Request) {
	ctx, sc := r.Context(), scopeOf(r)
	q := strings.TrimSpace(r.URL.Query().Get("tenant_id"))
	var list []*wxfleet.Tenant
	if q != "" {
		if id, err := strconv.ParseInt(q, 10, 64); err == nil && id > 0 {
			if t, err := s.Store.Tenant(ctx, sc, id); err == nil {
				list = append(list, t)
			}
		}
		named, err := s.Store.ListTenants(ctx, sc, store.TenantFilter{Q: q, Limit: tenantOptionsLimit})
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/pay")
			return
		}
		for _, t := range named {
			if len(list) < tenantOptionsLimit && (len(list) == 0 || list[0].ID != t.ID) {
				list = append(list, t)
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pages["pay"].ExecuteTemplate(w, "tenant_options", map[string]any{"AFTenantOptions": list, "L": pageLang(r)}); err != nil {
		s.Logger.Error("rendering tenant options failed", "err", err)
	}
}
