package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/wechat"
)

// authorizerPage is one mini program's page in the console: who it is, its
// permissions and token, the versions the rollouts made with the audit
// results WeChat gave (rejection reasons and screenshot media ids), the last
// WeChat errors, its recent pushes, and — on request, because each read is a
// WeChat call — its live versions, gray release, domains, testers and
// privacy settings.
func (s *Server) authorizerPage(w http.ResponseWriter, r *http.Request) {
	s.renderAuthorizer(w, r, http.StatusOK, nil)
}

// renderAuthorizer shows the page; refused is a staff form that came back
// with its input and reason (console_authorizer_forms.go).
func (s *Server) renderAuthorizer(w http.ResponseWriter, r *http.Request, status int, refused *authorizerForm) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	ctx := r.Context()
	a, err := s.Store.Authorizer(ctx, comp, r.PathValue("appid"))
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	versions, err := s.Store.AppVersions(ctx, comp, a.AppID, 50)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	var lastErrors []store.AppVersion
	for _, v := range versions {
		if v.App.LastError != "" {
			lastErrors = append(lastErrors, v)
		}
	}
	var events []*wxfleet.Event
	if s.Events != nil {
		if events, _, err = s.Events.ListEvents(ctx, comp, store.EventFilter{AppID: a.AppID, Limit: 20, NoCount: true}); err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/authorizers")
			return
		}
	}
	tags, err := s.Store.AuthorizerTags(ctx, comp, a.AppID)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	settings, err := s.Store.AuthorizerSettings(ctx, comp, a.AppID)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	hold, err := s.Store.AppHoldOf(ctx, comp, a.AppID)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	var tenantName string
	if a.TenantID != 0 {
		if t, err := s.Store.Tenant(ctx, wxfleet.Scope{}, a.TenantID); err == nil {
			tenantName = t.Name
		}
	}
	// The forms show what is stored, or what a refused form held.
	f := authorizerForm{Tags: strings.Join(tags, ", "), Settings: settingsText(settings)}
	if a.TenantID != 0 {
		f.TenantID = strconv.FormatInt(a.TenantID, 10)
	}
	if refused != nil {
		f.Which, f.Err = refused.Which, refused.Err
		switch refused.Which {
		case "tags":
			f.Tags = refused.Tags
		case "settings":
			f.Settings = refused.Settings
		case "tenant":
			f.TenantID = refused.TenantID
		}
	}
	s.render(w, r, status, "authorizer", map[string]any{
		"Title": a.Nickname + " · 授权方 Authorizer", "Platform": comp, "A": toAuthorizerJSON(a, s.Now(), false),
		"Versions": versions, "LastErrors": lastErrors, "Events": events,
		"Tags": tags, "Hold": hold, "TenantName": tenantName, "F": f, "Saved": r.URL.Query().Get("saved"),
	})
}

// wechatSection is one live read of the authorizer panel: its data, or the
// error WeChat (or the platform) gave.
type wechatSection struct {
	Err  string
	Data any
}

// authorizerWeChat is the authorizer page's live panel (htmx): each section
// is its own WeChat read, so one refused API leaves the others shown.
func (s *Server) authorizerWeChat(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	a, err := s.Store.Authorizer(r.Context(), comp, r.PathValue("appid"))
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	ts := s.Keeper.AuthorizerSource(comp, a.AppID)
	read := func(f func() (any, error)) wechatSection {
		if !a.Status.Usable() {
			return wechatSection{Err: wxfleet.ErrorMessage(a.Status.Unusable(a.AppID))}
		}
		v, err := f()
		if err != nil {
			return wechatSection{Err: wechatErrText(err)}
		}
		return wechatSection{Data: v}
	}
	data := map[string]any{
		"Versions": read(func() (any, error) { return s.WeChat.Versions(ctx, ts) }),
		"Gray":     read(func() (any, error) { return s.WeChat.GrayReleasePlanOf(ctx, ts) }),
		"Domains":  read(func() (any, error) { return s.WeChat.ModifyDomain(ctx, ts, "get", wechat.Domains{}) }),
		"Webview":  read(func() (any, error) { return s.WeChat.WebviewDomains(ctx, ts, "get", nil) }),
		"Testers":  read(func() (any, error) { return s.WeChat.Testers(ctx, ts) }),
		"Privacy":  read(func() (any, error) { return s.WeChat.Privacy(ctx, ts, 2) }),
	}
	s.render(w, r, http.StatusOK, "authorizer_wechat", data)
}

// wechatErrText is what a person sees of a failed WeChat read: WeChat's
// errcode and message when it answered, the coded message otherwise.
func wechatErrText(err error) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return strings.TrimSpace(we.Error())
	}
	return wxfleet.ErrorMessage(err)
}
