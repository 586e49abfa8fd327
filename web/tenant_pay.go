package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/pay"
)

// A tenant's WeChat Pay page (/tenants/{id}/pay, linked from the tenant's
// page): for its merchant (and the ISV's staff looking at the tenant) the
// tenant's own sub-merchant applications with their state in plain words,
// WeChat Pay's rejection reasons as sent and the signing link, which of its
// mini programs is bound to which sub_mchid, its latest orders, and the
// onboarding form, filed under this tenant and no other. Binding a mini
// program to a sub-merchant stays the staff's (/pay): it decides where the
// money goes. Everything is read inside the tenant's scope; another
// tenant's page is not found before anything is read (docs/tenants.md).

func (s *Server) tenantPayPages(mux *http.ServeMux) {
	s.page(mux, "GET /tenants/{id}/pay", TenantRead(), s.tenantPayPage)
	s.pageCap(mux, "POST /tenants/{id}/pay/applyments", TenantWrite("pay.applyment.submit"), 64<<10, s.tenantApplymentForm)
	s.page(mux, "GET /tenants/{id}/pay/applyments/{aid}", TenantRead(), s.tenantApplymentPage)
}

// applymentNext says, in each state, what happens next or what the
// merchant does.
var applymentNext = map[string]string{
	wxfleet.ApplymentNotUploaded: "尚未送达微信支付，请再提交一次 / not with WeChat Pay yet: submit it again",
	wxfleet.ApplymentAuditing:    "等待微信支付审核 / waiting for WeChat Pay's review",
	wxfleet.ApplymentRejected:    "按驳回原因修改后，用同一业务申请编号重新提交 / fix what the reasons say and resubmit with the same business code",
	wxfleet.ApplymentToConfirm:   "请超级管理员用微信打开链接，完成账户验证 / the super administrator opens the link in WeChat to verify the account",
	wxfleet.ApplymentToBeSigned:  "请超级管理员用微信打开链接签约 / the super administrator opens the link in WeChat to sign",
	wxfleet.ApplymentSigning:     "微信支付正在开通 / WeChat Pay is opening the account",
	wxfleet.ApplymentFinished:    "已开通：服务商把小程序绑定到这个商户号后即可收款 / open: once your provider binds your mini program to it, it takes payments",
	wxfleet.ApplymentCanceled:    "已作废：可用新的业务申请编号再申请 / cancelled: apply again with a new business code",
	wxfleet.ApplymentEditing:     "请再提交一次 / submit it again",
}

// tenantPayApp is one of the tenant's mini programs on its pay page.
type tenantPayApp struct {
	ComponentAppID, AppID, Nickname string
	SubMchID                        string // "" when not bound
}

// tenantApplyment is an application on the tenant's pay page.
type tenantApplyment struct {
	applymentJSON
	Platform string
}

// tenantPayOrder is an order with the link to its page.
type tenantPayOrder struct {
	*wxfleet.PayOrder
	Link string
}

// tenantMiniPrograms are the tenant's mini programs (not its official
// accounts: they take no mini-program payments).
func (s *Server) tenantMiniPrograms(r *http.Request, apps []tenantAppRef) ([]tenantPayApp, error) {
	var out []tenantPayApp
	for _, ta := range apps {
		a, err := s.Store.Authorizer(r.Context(), ta.ComponentAppID, ta.AppID)
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		if a.IsMiniProgram {
			out = append(out, tenantPayApp{ComponentAppID: a.ComponentAppID, AppID: a.AppID, Nickname: a.Nickname})
		}
	}
	return out, nil
}

type tenantAppRef struct{ ComponentAppID, AppID string }

// tenantPayPage is the page; ?resubmit={id} fills the form with one of the
// tenant's rejected applications (its sensitive fields to be typed again).
func (s *Server) tenantPayPage(w http.ResponseWriter, r *http.Request) {
	var f payForm
	if v := r.URL.Query().Get("resubmit"); v != "" {
		id, _ := strconv.ParseInt(v, 10, 64)
		d, err := s.tenantDetail(r)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/")
			return
		}
		comp, err := s.platform(r)
		if err == nil {
			var a *wxfleet.PayApplyment
			if a, err = s.Store.PayApplyment(r.Context(), wxfleet.Scope{TenantID: d.ID}, comp, id); err == nil {
				af := pay.ApplymentFormOf(a.Form)
				f.F = af.Values()
			}
		}
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, fmt.Sprintf("/tenants/%d/pay", d.ID))
			return
		}
	}
	s.renderTenantPay(w, r, http.StatusOK, f)
}

func (s *Server) renderTenantPay(w http.ResponseWriter, r *http.Request, status int, f payForm) {
	d, err := s.tenantDetail(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	ctx := r.Context()
	back := fmt.Sprintf("/tenants/%d", d.ID)
	// The tenant's own, whoever looks (a merchant is bounded to it anyway).
	sc := wxfleet.Scope{TenantID: d.ID}
	refs := make([]tenantAppRef, 0, len(d.Apps))
	var platforms []string
	for _, ta := range d.Apps {
		refs = append(refs, tenantAppRef{ta.ComponentAppID, ta.AppID})
		if !slices.Contains(platforms, ta.ComponentAppID) {
			platforms = append(platforms, ta.ComponentAppID)
		}
	}
	if comp, err := s.platform(r); err == nil && !slices.Contains(platforms, comp) {
		platforms = append(platforms, comp) // a tenant without apps yet may have applied on it
	}
	apps, err := s.tenantMiniPrograms(r, refs)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, back)
		return
	}
	for i, a := range apps {
		b, err := s.Store.PaySubMerchant(ctx, sc, a.ComponentAppID, a.AppID)
		switch {
		case err == nil:
			apps[i].SubMchID = b.SubMchID
		case wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND:
			s.errorPage(w, r, "出错了 Error", err, back)
			return
		}
	}
	var applyments []tenantApplyment
	var orders []tenantPayOrder
	for _, comp := range platforms {
		list, err := s.Store.PayApplyments(ctx, sc, comp, 50)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, back)
			return
		}
		for _, a := range list {
			applyments = append(applyments, tenantApplyment{applymentJSON: toApplymentJSON(a), Platform: comp})
		}
		os, err := s.Pay.Orders(ctx, sc, comp, "", 20)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, back)
			return
		}
		for _, o := range os {
			orders = append(orders, tenantPayOrder{PayOrder: o, Link: "/pay/orders/" + url.PathEscape(o.OutTradeNo) + "?platform=" + url.QueryEscape(o.ComponentAppID) +
				"&sub_mchid=" + url.QueryEscape(o.SubMchID)})
		}
	}
	slices.SortStableFunc(orders, func(a, b tenantPayOrder) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if len(orders) > 20 {
		orders = orders[:20]
	}
	actor, _ := wxfleet.ActorFrom(ctx)
	data := map[string]any{"Title": d.Name + " · 微信支付 WeChat Pay", "T": toTenantJSON(d.Tenant), "Back": back,
		"Apps": apps, "Applyments": applyments, "Orders": orders, "States": applymentStates, "Next": applymentNext,
		"CanSubmit": actor.Role != wxfleet.RoleViewer, "Staff": actor.Role.Staff()}
	applymentFormData(data, f, fmt.Sprintf("/tenants/%d/pay/applyments", d.ID))
	data["AFApps"] = apps
	s.render(w, r, status, "tenant_pay", data)
}

// tenantApplymentForm submits an application for the tenant: filed under
// it (never a tenant the form names), for one of its mini programs, on that
// mini program's platform.
func (s *Server) tenantApplymentForm(w http.ResponseWriter, r *http.Request) {
	d, err := s.tenantDetail(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	auditTenant(r, d.ID)
	tid := d.ID
	form, f, err := readApplymentForm(r, s.newBusinessCode(&tid))
	f.TenantID = ""
	appID := strings.TrimSpace(r.PostFormValue("appid"))
	refs := make([]tenantAppRef, 0, len(d.Apps))
	for _, ta := range d.Apps {
		refs = append(refs, tenantAppRef{ta.ComponentAppID, ta.AppID})
	}
	apps, lerr := s.tenantMiniPrograms(r, refs)
	if lerr != nil {
		s.errorPage(w, r, "出错了 Error", lerr, fmt.Sprintf("/tenants/%d/pay", d.ID))
		return
	}
	comp := ""
	for _, a := range apps {
		if a.AppID == appID {
			comp = a.ComponentAppID
		}
	}
	if comp == "" { // not one of the tenant's: nothing is sent
		if f.Errs == nil {
			f.Errs = pay.FieldErrors{}
		}
		if _, bad := f.Errs["appid"]; !bad || appID != "" {
			f.Errs["appid"] = "请选择本租户的小程序 / choose one of this tenant's mini programs"
		}
		if err == nil {
			err = wxfleet.Errorf(wxfleet.EINVALID, "请改正标出的字段：appid / fix the fields marked: appid")
			f.Err = wxfleet.ErrorMessage(err)
		}
	}
	if err != nil {
		auditSkip(r)
		s.renderTenantPay(w, r, http.StatusBadRequest, f)
		return
	}
	a, err := s.Pay.SubmitApplyment(r.Context(), scopeOf(r), pay.ApplymentRequest{ComponentAppID: comp, AppID: appID, TenantID: &tid, Form: form})
	if err != nil {
		auditSkip(r)
		f.Err = wxfleet.ErrorMessage(err)
		s.renderTenantPay(w, r, statusOfErr(err), f)
		return
	}
	auditTarget(r, comp, appID, a.BusinessCode)
	http.Redirect(w, r, fmt.Sprintf("/tenants/%d/pay/applyments/%d", d.ID, a.ID)+platformQuery(comp), http.StatusSeeOther)
}

// tenantApplymentPage is one of the tenant's applications, its state read
// from WeChat Pay first (the stored one, with the reason, when it cannot
// be read). Another tenant's is not found, WeChat Pay not asked.
func (s *Server) tenantApplymentPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.tenantDetail(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	back := fmt.Sprintf("/tenants/%d/pay", d.ID)
	id, err := pathID(r, "aid")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, back)
		return
	}
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, back)
		return
	}
	sc := wxfleet.Scope{TenantID: d.ID}
	data := map[string]any{"Platform": comp, "States": applymentStates, "Back": back}
	a, err := s.Pay.Applyment(r.Context(), sc, comp, id)
	if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		data["ReadErr"] = wxfleet.ErrorMessage(err)
		a, err = s.Store.PayApplyment(r.Context(), sc, comp, id)
	}
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, back)
		return
	}
	data["Title"], data["P"] = "进件 "+a.BusinessCode+" Application", toApplymentJSON(a)
	s.render(w, r, http.StatusOK, "applyment", data)
}
