package web

import (
	"encoding/json"
	"net/http"
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

// payForm is the application form as the page holds it.
type payForm struct {
	Form, AppID, TenantID string
}

func (s *Server) payPage(w http.ResponseWriter, r *http.Request) {
	s.renderPay(w, r, http.StatusOK, payForm{}, "", "")
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
	data["Applyments"], data["Orders"], data["States"] = items, orders, applymentStates
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
		s.renderPay(w, r, statusOfErr(err), payForm{}, "", wxfleet.ErrorMessage(err))
		return
	}
	auditTarget(r, comp, b.AppID, b.SubMchID)
	http.Redirect(w, r, "/pay"+platformQuery(comp)+"&bound="+b.AppID, http.StatusSeeOther)
}
