package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/tenant"
)

// A tenant's page: for the ISV's staff the tenant's file (plan,
// subscription, mini programs, settings, authorization links), and for the
// merchant's own users their portal — the same page, bounded by their
// scope: their mini programs with the version and audit state in plain
// words (WeChat's rejection reason as it was sent), the subscription, the
// runtime settings, a trial QR code and testers per mini program, links to
// each mini program's capabilities (customer-service inbox, subscribe
// messages, cards and coupons, Wi-Fi: pages bounded by the same scope,
// appscope.go), its WeChat Pay page (tenant_pay.go), and a 授权 button for
// another mini program.

// portalApp is one of the tenant's mini programs on its page.
type portalApp struct {
	ComponentAppID string
	AppID          string
	Nickname       string
	Status         wxfleet.AuthorizerStatus
	Version        string // the newest version a rollout took it to
	State          string // that version's state, in plain words
	StateTone      string
	Reason         string // WeChat's rejection reason, as sent
	Released       string // the newest released version
}

// appState says a rollout's state of an app in plain words.
func appState(a *wxfleet.RolloutApp) (words, tone string) {
	switch a.State {
	case wxfleet.AppPending:
		return "排队中 queued", ""
	case wxfleet.AppCommitted:
		return "代码已上传，待提交审核 code uploaded, to be submitted", "warn"
	case wxfleet.AppAuditing:
		return "微信审核中（通常半天）under WeChat's review (about half a day)", "warn"
	case wxfleet.AppApproved:
		return "审核通过，等待发布 approved, waiting to be released", "ok"
	case wxfleet.AppReleased:
		return "已发布上线 released", "ok"
	case wxfleet.AppRejected:
		return "审核未通过 rejected by WeChat's review", "bad"
	case wxfleet.AppFailed:
		return "发布失败，服务商正在处理 failed; your provider is on it", "bad"
	case wxfleet.AppSkipped:
		return "本次未发布 not part of this release", ""
	case wxfleet.AppCancelled:
		return "已取消 cancelled", ""
	case wxfleet.AppRolledBack:
		return "已回退到上一版本 rolled back to the previous version", "warn"
	}
	return string(a.State), ""
}

// tenantDetail loads the tenant the path names, inside the actor's scope.
func (s *Server) tenantDetail(r *http.Request) (*tenant.Detail, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.tenants().Get(r.Context(), scopeOf(r), id)
}

// tenantApp is the tenant's mini program the path names: a mini program of
// another tenant is not found, whoever asks.
func (s *Server) tenantApp(r *http.Request) (*tenant.Detail, *wxfleet.Authorizer, error) {
	d, err := s.tenantDetail(r)
	if err != nil {
		return nil, nil, err
	}
	appid := r.PathValue("appid")
	for _, a := range d.Apps {
		if a.AppID == appid {
			az, err := s.Store.Authorizer(r.Context(), a.ComponentAppID, appid)
			return d, az, err
		}
	}
	return nil, nil, wxfleet.Errorf(wxfleet.ENOTFOUND, "租户 %d 没有小程序 %s / tenant %d has no mini program %s", d.ID, appid, d.ID, appid)
}

func (s *Server) tenantPage(w http.ResponseWriter, r *http.Request) {
	s.renderTenant(w, r, http.StatusOK, tenantForms{})
}

// tenantForms is what a refused form on the tenant page held: which form
// ("subscription", "settings", "renew", "edit"), its reason, and its input,
// shown again in place of the saved values.
type tenantForms struct {
	Which, Err string
	Sub        *termForm // the subscription form
	Settings   string    // the runtime settings as typed
	Years      string    // the renewal's years
	Name       string    // the edit form's fields
	Contact    string
	Tags       string
	PlanID     string
}

// refuseTenantForm shows the tenant page again with f's input and err.
func (s *Server) refuseTenantForm(w http.ResponseWriter, r *http.Request, f tenantForms, err error) {
	auditSkip(r) // refused: nothing to record
	f.Err = wxfleet.ErrorMessage(err)
	s.renderTenant(w, r, statusOfErr(err), f)
}

// renderTenant shows the tenant's page; a refused form comes back with its
// input and the reason (f).
func (s *Server) renderTenant(w http.ResponseWriter, r *http.Request, status int, f tenantForms) {
	d, err := s.tenantDetail(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	ctx := r.Context()
	var apps []portalApp
	for _, ta := range d.Apps {
		p := portalApp{ComponentAppID: ta.ComponentAppID, AppID: ta.AppID, Status: ta.Status}
		if a, err := s.Store.Authorizer(ctx, ta.ComponentAppID, ta.AppID); err == nil {
			p.Nickname = a.Nickname
		}
		versions, err := s.Store.AppVersions(ctx, ta.ComponentAppID, ta.AppID, 20)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/")
			return
		}
		for i, v := range versions {
			if i == 0 {
				p.Version = v.UserVersion
				p.State, p.StateTone = appState(v.App)
				if v.App.State == wxfleet.AppRejected {
					p.Reason = v.App.Reason
				}
			}
			if p.Released == "" && v.App.State == wxfleet.AppReleased {
				p.Released = v.UserVersion
			}
		}
		apps = append(apps, p)
	}
	settings, err := s.tenants().Settings(ctx, scopeOf(r), d.ID)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	actor, _ := wxfleet.ActorFrom(ctx)
	now := s.Now()
	var daysLeft int
	expired := false
	if d.Subscription != nil {
		daysLeft = int(d.Subscription.ExpiresAt.Sub(now).Hours() / 24)
		expired = d.Subscription.Expired(now)
	}
	data := map[string]any{
		"Title": d.Name + " · 租户 Tenant", "T": toTenantJSON(d.Tenant), "D": d, "Apps": apps,
		"Settings": string(settings), "Staff": actor.Role.Staff(), "DaysLeft": daysLeft, "Expired": expired, "Cards": s.Cards != nil, "Pay": s.Pay != nil,
		"Link": r.URL.Query().Get("link"), "Saved": r.URL.Query().Get("saved") != "",
	}
	// Owners and operators edit the tenant (console_tenant_edit.go).
	if actor.Role == wxfleet.RoleOwner || actor.Role == wxfleet.RoleOperator {
		plans, err := s.Store.ListPlans(ctx)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/")
			return
		}
		data["StaffWrite"], data["Plans"] = true, plans
		if f.Which != "edit" {
			f.Name, f.Contact, f.Tags = d.Name, d.Contact, strings.Join(d.Tags, ", ")
			f.PlanID = strconv.FormatInt(d.Tenant.PlanID, 10)
		}
		if f.Sub == nil {
			f.Sub = &termForm{PlanID: d.Tenant.PlanID}
		}
		data["Sub"] = f.Sub
	}
	if f.Which == "settings" {
		data["Settings"] = f.Settings
	}
	if f.Years == "" {
		f.Years = "1"
	}
	data["F"] = f
	data["Subscribed"] = r.URL.Query().Get("subscribed") != ""
	s.render(w, r, status, "tenant", data)
}

// tenantSettingsForm saves the tenant's runtime settings (a JSON object;
// a malformed one is refused with the reason and nothing saved).
func (s *Server) tenantSettingsForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	auditTenant(r, id)
	back := fmt.Sprintf("/tenants/%d", id)
	// Another tenant's is not found, whatever its input (SetSettings).
	text := r.PostFormValue("settings")
	if _, err := s.tenants().SetSettings(r.Context(), scopeOf(r), id, []byte(text)); err != nil {
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, "/")
			return
		}
		s.refuseTenantForm(w, r, tenantForms{Which: "settings", Settings: text}, err)
		return
	}
	http.Redirect(w, r, back+"?saved=1", http.StatusSeeOther)
}

// tenantLinkForm makes an authorization link for the tenant. A merchant is
// sent straight to it (the 授权 button for another mini program); the
// ISV's staff see it, to send to the merchant.
func (s *Server) tenantLinkForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	auditTenant(r, id)
	back := fmt.Sprintf("/tenants/%d", id)
	comp := r.PostFormValue("platform")
	if comp == "" {
		if comp, err = s.platform(r); err != nil {
			s.errorPage(w, r, "无法创建授权链接 Cannot make the link", err, back)
			return
		}
	}
	link, err := s.tenants().CreateLink(r.Context(), scopeOf(r), id, comp, authorization.LinkRequest{})
	if err != nil {
		s.errorPage(w, r, "无法创建授权链接 Cannot make the link", err, back)
		return
	}
	if a, _ := wxfleet.ActorFrom(r.Context()); a.Role == wxfleet.RoleMerchant {
		http.Redirect(w, r, link.URL, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, back+"?link="+url.QueryEscape(link.URL), http.StatusSeeOther)
}

// createTenantForm makes a tenant from the tenants page's form.
func (s *Server) createTenantForm(w http.ResponseWriter, r *http.Request) {
	req := tenant.CreateRequest{Name: strings.TrimSpace(r.PostFormValue("name")), Contact: strings.TrimSpace(r.PostFormValue("contact")),
		Tags: strings.FieldsFunc(r.PostFormValue("tags"), func(c rune) bool { return c == ',' || c == '，' || c == ' ' })}
	if v := r.PostFormValue("plan_id"); v != "" {
		req.PlanID, _ = strconv.ParseInt(v, 10, 64)
	}
	t, err := s.tenants().Create(r.Context(), scopeOf(r), req)
	if err != nil {
		s.errorPage(w, r, "无法创建租户 Cannot create the tenant", err, "/tenants")
		return
	}
	auditTenant(r, t.ID)
	http.Redirect(w, r, fmt.Sprintf("/tenants/%d", t.ID), http.StatusSeeOther)
}

// renewForm renews the tenant's subscription by a number of years.
func (s *Server) renewForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/tenants")
		return
	}
	auditTenant(r, id)
	back := fmt.Sprintf("/tenants/%d", id)
	raw := strings.TrimSpace(r.PostFormValue("years"))
	years, err := strconv.Atoi(raw)
	if err != nil {
		s.refuseTenantForm(w, r, tenantForms{Which: "renew", Years: raw}, wxfleet.Errorf(wxfleet.EINVALID, "续费年数须是 1 到 10 的整数 / renew for a whole number of years, 1 to 10"))
		return
	}
	if _, err := s.tenants().Renew(r.Context(), scopeOf(r), id, years); err != nil {
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, "/tenants")
			return
		}
		s.refuseTenantForm(w, r, tenantForms{Which: "renew", Years: raw}, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// appQRCode is a tenant's mini program's trial QR code (体验版, get_qrcode).
func (s *Server) appQRCode(w http.ResponseWriter, r *http.Request) {
	_, a, err := s.tenantApp(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	img, ctype, err := s.WeChat.QRCode(ctx, s.Keeper.AuthorizerSource(a.ComponentAppID, a.AppID), "")
	if err != nil {
		s.errorPage(w, r, "无法获取体验码 Cannot get the trial QR code", wxfleet.Errorf(wxfleet.EUNAVAILABLE, "%s", wechatErrText(err)), "/")
		return
	}
	if !strings.HasPrefix(ctype, "image/") {
		ctype = "image/jpeg"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Write(img)
}

// appTesters is a tenant's mini program's testers (htmx fragment; one
// WeChat call), with the forms that bind and unbind them.
func (s *Server) appTesters(w http.ResponseWriter, r *http.Request) {
	d, a, err := s.tenantApp(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	data := map[string]any{"TenantID": d.ID, "AppID": a.AppID}
	list, err := s.WeChat.Testers(ctx, s.Keeper.AuthorizerSource(a.ComponentAppID, a.AppID))
	if err != nil {
		data["Err"] = wechatErrText(err)
	}
	data["Testers"] = list
	s.render(w, r, http.StatusOK, "testers", data)
}

// testersForm binds (or unbinds) a tester by WeChat id.
func (s *Server) testersForm(w http.ResponseWriter, r *http.Request) {
	d, a, err := s.tenantApp(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	auditTenant(r, d.ID)
	back := fmt.Sprintf("/tenants/%d", d.ID)
	wechatID := strings.TrimSpace(r.PostFormValue("wechatid"))
	if wechatID == "" {
		s.errorPage(w, r, "未填写微信号 No WeChat id", wxfleet.Errorf(wxfleet.EINVALID, "请填写体验者的微信号 / give the tester's WeChat id"), back)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	ts := s.Keeper.AuthorizerSource(a.ComponentAppID, a.AppID)
	if r.PostFormValue("action") == "unbind" {
		err = s.WeChat.UnbindTester(ctx, ts, wechatID, "")
	} else {
		_, err = s.WeChat.BindTester(ctx, ts, wechatID)
	}
	if err != nil {
		s.errorPage(w, r, "体验者未更新 Testers not changed", wxfleet.Errorf(wxfleet.EINVALID, "%s", wechatErrText(err)), back)
		return
	}
	http.Redirect(w, r, back+"?saved=1", http.StatusSeeOther)
}
