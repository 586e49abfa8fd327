package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/pay"
)

// The console's WeChat Pay page (package pay, docs/wechat-pay.md): the
// provider merchant, the sub-merchant applications (特约商户进件) with their
// state and WeChat Pay's rejection reasons, one application read again
// from WeChat Pay, an application submitted (WeChat Pay's form as JSON),
// a sub-merchant bound to a mini program, and the latest orders.

func (s *Server) payPages(mux *http.ServeMux) {
	if s.Pay == nil {
		return
	}
	s.page(mux, "GET /pay", StaffRead(), s.payPage)
	s.pageCap(mux, "POST /pay/applyments", StaffWrite("pay.applyment.submit"), 64<<10, s.submitApplymentForm)
	s.page(mux, "GET /pay/applyments/{id}", StaffRead(), s.applymentPage)
	s.page(mux, "POST /pay/sub-merchants", StaffWrite("pay.sub_merchant.bind"), s.bindSubMerchantForm)
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

// payForm is the application form and the test order form as the page
// holds them; TestErr is the test order's refusal.
type payForm struct {
	Form, AppID, TenantID string
	Test                  testOrderForm
	TestErr               string
}

// testOrderForm is a test order: placed for a user of a mini program as the
// mini program would place it, so a demo can take a payment from the browser.
type testOrderForm struct {
	AppID, OpenID, Amount, Description string
}

// The test order form's defaults: the smallest amount WeChat Pay takes.
var testOrderDefaults = testOrderForm{Amount: "0.01", Description: "测试订单 test order"}

func (s *Server) payPage(w http.ResponseWriter, r *http.Request) {
	s.renderPay(w, r, http.StatusOK, payForm{Test: testOrderDefaults}, "", "")
}

func (s *Server) renderPay(w http.ResponseWriter, r *http.Request, status int, f payForm, errMsg, bindErr string) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	ctx := r.Context()
	data := map[string]any{"Title": "微信支付 WeChat Pay", "Platform": comp, "Path": "/pay" + platformQuery(comp), "F": f, "Err": errMsg, "BindErr": bindErr,
		"Bound": r.URL.Query().Get("bound")}
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
	}
	apps, err := s.Store.PayApplyments(ctx, comp, 100)
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
// under the same business_code) and shows it.
func (s *Server) submitApplymentForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/pay")
		return
	}
	f := payForm{Form: r.PostFormValue("form"), AppID: strings.TrimSpace(r.PostFormValue("appid")), TenantID: strings.TrimSpace(r.PostFormValue("tenant_id"))}
	req := pay.ApplymentRequest{ComponentAppID: comp, AppID: f.AppID}
	if err := json.Unmarshal([]byte(f.Form), &req.Form); err != nil || req.Form == nil {
		err = wxfleet.Errorf(wxfleet.EINVALID, "进件表单须是微信支付申请单的 JSON 对象 / the form must be WeChat Pay's application as a JSON object")
		auditSkip(r)
		s.renderPay(w, r, http.StatusBadRequest, f, wxfleet.ErrorMessage(err), "")
		return
	}
	f.Test = testOrderDefaults
	if f.TenantID != "" {
		id, err := strconv.ParseInt(f.TenantID, 10, 64)
		if err != nil || id <= 0 {
			auditSkip(r)
			s.renderPay(w, r, http.StatusBadRequest, f, "租户须是数字 id / tenant must be a numeric id", "")
			return
		}
		req.TenantID = &id
	}
	a, err := s.Pay.SubmitApplyment(r.Context(), req)
	if err != nil {
		auditSkip(r)
		s.renderPay(w, r, statusOfErr(err), f, wxfleet.ErrorMessage(err), "")
		return
	}
	auditTarget(r, comp, f.AppID, a.BusinessCode)
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
	data := map[string]any{"Platform": comp, "States": applymentStates}
	a, err := s.Pay.Applyment(r.Context(), comp, id)
	if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		data["ReadErr"] = wxfleet.ErrorMessage(err)
		a, err = s.Store.PayApplyment(r.Context(), comp, id)
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
		s.renderPay(w, r, statusOfErr(err), payForm{Test: testOrderDefaults}, "", wxfleet.ErrorMessage(err))
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
		s.renderPay(w, r, statusOfErr(err), payForm{Test: t, TestErr: wxfleet.ErrorMessage(err)}, "", "")
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
