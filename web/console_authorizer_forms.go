package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// The authorizer page's staff forms: what PUT /api/v1/authorizers/{appid}/
// tags, /settings and /tenant and DELETE …/hold change, with the API's
// access and audit actions and through the same store and service calls.
// A refused form comes back on the page with its reason and the input kept;
// moving the app to another tenant and releasing a hold ask first.

func (s *Server) authorizerForms(mux *http.ServeMux) {
	s.page(mux, "POST /authorizers/{appid}/tags", StaffWrite("tags.update"), s.authorizerTagsForm)
	s.page(mux, "POST /authorizers/{appid}/settings", StaffWrite("settings.update"), s.authorizerSettingsForm)
	s.page(mux, "POST /authorizers/{appid}/tenant", StaffWrite("authorizer.tenant"), s.authorizerTenantForm)
	s.page(mux, "POST /authorizers/{appid}/hold/release", StaffWrite("hold.release"), s.releaseHoldForm)
}

// authorizerForm is what a refused form on the authorizer page held, and
// which form it was ("tags", "settings", "tenant", "hold") with its reason.
type authorizerForm struct {
	Which, Err               string
	Tags, Settings, TenantID string
}

// authorizerBack is the authorizer page's address, with a saved note.
func authorizerBack(comp, appID, saved string) string {
	u := "/authorizers/" + url.PathEscape(appID) + platformQuery(comp)
	if saved != "" {
		u += "&saved=" + saved
	}
	return u
}

// refuse shows the authorizer page again with the form's input and reason.
func (s *Server) refuseAuthorizerForm(w http.ResponseWriter, r *http.Request, f authorizerForm, err error) {
	auditSkip(r)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND && (f.Which == "tags" || f.Which == "settings") { // the app itself
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	f.Err = wxfleet.ErrorMessage(err)
	s.renderAuthorizer(w, r, statusOfErr(err), &f)
}

// authorizerTagsForm replaces the app's tags (comma, space or newline
// separated), as PUT …/tags does.
func (s *Server) authorizerTagsForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	appID := r.PathValue("appid")
	raw := r.PostFormValue("tags")
	tags := formWords(raw)
	if err := s.Store.SetAuthorizerTags(r.Context(), comp, appID, tags); err != nil {
		s.refuseAuthorizerForm(w, r, authorizerForm{Which: "tags", Tags: raw}, err)
		return
	}
	auditTarget(r, comp, appID, "")
	auditDetail(r, map[string]any{"tags": nonNil(tags)})
	http.Redirect(w, r, authorizerBack(comp, appID, "tags"), http.StatusSeeOther)
}

// authorizerSettingsForm replaces the app's settings with a JSON object
// (empty: none), as PUT …/settings does.
func (s *Server) authorizerSettingsForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	appID := r.PathValue("appid")
	raw := r.PostFormValue("settings")
	settings := map[string]any{}
	if strings.TrimSpace(raw) != "" {
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			s.refuseAuthorizerForm(w, r, authorizerForm{Which: "settings", Settings: raw},
				wxfleet.Errorf(wxfleet.EINVALID, "设置不是有效的 JSON：%v / the settings are not valid JSON: %v", err, err))
			return
		}
		obj, ok := v.(map[string]any)
		if !ok {
			s.refuseAuthorizerForm(w, r, authorizerForm{Which: "settings", Settings: raw},
				wxfleet.Errorf(wxfleet.EINVALID, `设置须是一个 JSON 对象，如 {"shop_name": "…"} / the settings must be a JSON object, such as {"shop_name": "…"}`))
			return
		}
		settings = obj
	}
	if err := s.Store.SetAuthorizerSettings(r.Context(), comp, appID, settings, s.Now()); err != nil {
		s.refuseAuthorizerForm(w, r, authorizerForm{Which: "settings", Settings: raw}, err)
		return
	}
	// The keys that were set, not their values: settings may hold a merchant's own keys.
	auditTarget(r, comp, appID, "")
	auditDetail(r, map[string]any{"keys": sortedKeys(settings)})
	http.Redirect(w, r, authorizerBack(comp, appID, "settings"), http.StatusSeeOther)
}

// authorizerTenantForm puts the app under the tenant tenant_id names, or
// under none (empty), as PUT …/tenant does. The tenant comes in the form or
// in the query of the confirmation page's form.
func (s *Server) authorizerTenantForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	appID := r.PathValue("appid")
	raw := strings.TrimSpace(r.FormValue("tenant_id"))
	f := authorizerForm{Which: "tenant", TenantID: raw}
	a, err := s.Store.Authorizer(r.Context(), comp, appID)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	var id int64
	if raw != "" {
		if id, err = strconv.ParseInt(raw, 10, 64); err != nil || id < 1 {
			s.refuseAuthorizerForm(w, r, f, wxfleet.Errorf(wxfleet.EINVALID, "租户 id 须是正整数，留空表示不归属任何租户 / the tenant id is a positive integer, or empty for none"))
			return
		}
	}
	if id == a.TenantID {
		s.refuseAuthorizerForm(w, r, f, wxfleet.Errorf(wxfleet.EINVALID, "小程序已在这个租户下 / the mini program is under this tenant already"))
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		what := fmt.Sprintf("把小程序移出租户 #%d：它不再出现在该商户的门户里，租户的发布与设置不再作用于它 / Take the mini program out of tenant #%d: it leaves that merchant's portal, and the tenant's rollouts and settings no longer apply to it", a.TenantID, a.TenantID)
		if id != 0 {
			t, err := s.Store.Tenant(r.Context(), scopeOf(r), id)
			if err != nil {
				s.refuseAuthorizerForm(w, r, f, err)
				return
			}
			what = fmt.Sprintf("把小程序归入租户 #%d「%s」：该商户从此能在门户里看到并管理它 / Put the mini program under tenant #%d “%s”: that merchant sees and manages it in its portal from now on", id, t.Name, id, t.Name)
			if a.TenantID != 0 {
				what += fmt.Sprintf("；它离开租户 #%d / it leaves tenant #%d", a.TenantID, a.TenantID)
			}
		}
		auditSkip(r) // asked, not done
		s.render(w, r, http.StatusOK, "confirm", map[string]any{
			"Title": "请确认 Please confirm", "What": what, "Back": authorizerBack(comp, appID, ""),
			"FormAction": "/authorizers/" + url.PathEscape(appID) + "/tenant" + platformQuery(comp) + "&tenant_id=" + url.QueryEscape(raw),
			"Subject":    a.Nickname + " · " + a.AppID,
		})
		return
	}
	if _, err := s.tenants().AssignApp(r.Context(), scopeOf(r), comp, appID, id); err != nil {
		s.refuseAuthorizerForm(w, r, f, err)
		return
	}
	auditTarget(r, comp, appID, "")
	auditTenant(r, id)
	http.Redirect(w, r, authorizerBack(comp, appID, "tenant"), http.StatusSeeOther)
}

// releaseHoldForm clears the rollouts' hold of the app (WeChat's 86007 was
// resolved), as DELETE …/hold does, after a confirmation.
func (s *Server) releaseHoldForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	appID := r.PathValue("appid")
	if r.PostFormValue("confirm") != "yes" {
		a, err := s.Store.Authorizer(r.Context(), comp, appID)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/authorizers")
			return
		}
		auditSkip(r) // asked, not done
		s.render(w, r, http.StatusOK, "confirm", map[string]any{
			"Title": "请确认 Please confirm", "Back": authorizerBack(comp, appID, ""),
			"What":       "解除暂停：发布会再次向这个小程序提交审核。请先确认微信已解除对它的限制（86007）/ Release the hold: rollouts submit this mini program for audit again. Make sure WeChat lifted its restriction (86007) first",
			"FormAction": "/authorizers/" + url.PathEscape(appID) + "/hold/release" + platformQuery(comp),
			"Subject":    a.Nickname + " · " + a.AppID,
		})
		return
	}
	if err := s.Rollouts.ReleaseHold(r.Context(), comp, appID); err != nil {
		s.refuseAuthorizerForm(w, r, authorizerForm{Which: "hold"}, err)
		return
	}
	auditTarget(r, comp, appID, "")
	http.Redirect(w, r, authorizerBack(comp, appID, "hold"), http.StatusSeeOther)
}

// settingsText is the settings as the form shows them: indented JSON, the
// keys sorted ("" for none).
func settingsText(settings map[string]any) string {
	if len(settings) == 0 {
		return ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(settings); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}
