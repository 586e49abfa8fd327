package web

import (
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// serveStatic serves one embedded file of static/.
func serveStatic(name, contentType string) http.HandlerFunc {
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		panic(err) // embedded at build time: a missing file is a build mistake
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	}
}

var tokenStateTags = map[string][2]string{ // tone, label
	"valid": {"ok", "有效 valid"}, "refreshing": {"warn", "即将刷新 refreshing"}, "expired": {"bad", "已过期 expired"},
	"none": {"warn", "无 none"}, "unusable": {"bad", "不可用 unusable"},
}

var pageFuncs = template.FuncMap{
	"rolloutStatus": rolloutStatusLabel, // {{rolloutStatus $.L .Status}}
	"fmtTime": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"age": func(sec *int64) string {
		if sec == nil {
			return ""
		}
		return (time.Duration(*sec) * time.Second).String()
	},
	// {{state $.L .TokenState}}: an authorizer token's state as a tag.
	"state": func(lang, s string) template.HTML {
		l, ok := tokenStateTags[s]
		if !ok {
			return ""
		}
		return tag(l[0], bilingual(lang, l[1]))
	},
	// {{template "act" (act . "pause" "secondary" "暂停" "Pause")}}: a rollout action button's data.
	"act": func(page map[string]any, action, class, zh, en string) map[string]any {
		r, _ := page["R"].(rolloutJSON)
		lang, _ := page["L"].(string)
		label := zh + " " + en
		if lang == langEN {
			label = en
		}
		return map[string]any{"ID": r.ID, "Action": action, "Class": class, "Label": label, "CSRF": page["CSRF"], "Platform": page["Platform"]}
	},
	// {{payState $.L .State}}: a sub-merchant application's state as a tag.
	"payState": func(lang, st string) template.HTML {
		l, ok := applymentStates[st]
		if !ok {
			return tag("warn", st)
		}
		return tag(l[0], bilingual(lang, l[1]))
	},
	// {{template "pfield" (pfield . "name" "中文" "English" "type" "inputmode" "hint")}}: one input of the
	// onboarding form (applyment_form.html), its value and error from the page's AF.
	"pfield": func(page map[string]any, name, zh, en, typ, mode, hint string) map[string]any {
		f, _ := page["AF"].(payForm)
		return map[string]any{"Name": name, "ZH": zh, "EN": en, "Type": typ, "Mode": mode, "Hint": hint,
			"Value": f.F[name], "Err": f.Errs[name], "L": page["L"]}
	},
	// {{orderState $.L .State}}: a pay order's state as a tag.
	"orderState": func(lang, st string) template.HTML {
		l, ok := orderStates[st]
		if !ok {
			return tag("warn", st)
		}
		return tag(l[0], bilingual(lang, l[1]))
	},
	// {{refundState $.L .Status}}: a refund's status as a tag.
	"refundState": func(lang, st string) template.HTML {
		l, ok := refundStates[st]
		if !ok {
			return tag("warn", st)
		}
		return tag(l[0], bilingual(lang, l[1]))
	},
	// {{yuan .Amount}}: fen as yuan.
	"yuan": yuanText,
	// {{status $.L .Status}}: an authorizer status as a tag.
	"status": func(lang string, s wxfleet.AuthorizerStatus) template.HTML {
		return tag(s.Tone(), bilingual(lang, s.Label()))
	},
}

// pages are parsed once; each page is the layout plus its own file.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"home", "authorize", "callback", "error", "login", "authorizers", "rollouts", "rollout", "authorizer", "authorizer_wechat",
		"templates", "template_drafts", "rollout_new", "confirm", "audit", "accounts", "api_tokens", "tenants", "tenant", "testers", "apidocs",
		"webhooks", "webhook", "inbox", "conversation", "subscribe", "subscribe_library", "subscribe_apply", "subscribe_apply_status", "cards", "wifi", "pay", "applyment",
		"tenant_pay", "pay_order", "events", "plans", "template", "fleet_actions", "fleet_action_new", "fleet_action", "wechat_call"} {
		files := []string{"templates/layout.html", "templates/" + name + ".html"}
		if name == "pay" || name == "tenant_pay" { // the onboarding form, on both
			files = append(files, "templates/applyment_form.html")
		}
		m[name] = template.Must(template.New(name).Funcs(pageFuncs).Funcs(i18nFuncs).ParseFS(templateFS, files...))
	}
	return m
}()

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["CSRF"] = s.formToken(w, r)
	if cs, ok := sessionFrom(r.Context()); ok {
		data["Me"] = cs.actor
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	data["L"] = pageLang(r)
	if _, ok := data["Path"]; !ok { // a form's answer names the page it belongs to
		data["Path"] = switchBack(r)
	}
	if err := pages[name].ExecuteTemplate(w, name+".html", data); err != nil {
		s.Logger.Error("rendering page failed", "page", name, "err", err)
	}
}

// errorPage shows err to a person: the coded message, never internals.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, title string, err error, back string) {
	auditSkip(r) // a form that failed did nothing to record
	status := statusOf[wxfleet.ErrorCode(err)]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		s.Logger.Error("page failed", "path", r.URL.Path, "err", err)
	} else {
		s.Logger.Info("page refused", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, status, "error", map[string]any{"Title": title, "Message": wxfleet.ErrorMessage(err), "Back": back})
}

// authorizePage is the merchant-facing 授权 page. It makes no pre_auth_code
// (the click does). ?link= names the operator's link it was opened with,
// which carries the merchant; a visitor cannot name a merchant.
func (s *Server) authorizePage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "无法授权 Cannot authorize", err, "/")
		return
	}
	p, err := s.Store.Platform(r.Context(), comp)
	if err != nil {
		s.errorPage(w, r, "无法授权 Cannot authorize", err, "/")
		return
	}
	data := map[string]any{"Title": "授权 Authorize", "Platform": comp, "PlatformName": p.Name}
	if id := r.URL.Query().Get("link"); id != "" {
		l, err := s.Store.AuthLink(r.Context(), comp, id)
		if err == nil {
			err = authorization.LinkUsable(l, s.Now())
		}
		if err != nil {
			s.errorPage(w, r, "无法授权 Cannot authorize", err, "/authorize")
			return
		}
		data["Link"], data["Merchant"] = l.ID, l.Merchant
	}
	s.render(w, r, http.StatusOK, "authorize", data)
}

// authorizeCookie keeps "<link id>.<state>" of the authorization this
// browser started, for the callback (which must come from this browser) and
// for a second click (which reuses the pre_auth_code).
const authorizeCookie = "wxfleet_authorize"

// authorizeStart sends the browser to WeChat's page for a pre_auth_code made
// for this click, or the one an earlier click of this browser got if it still
// lives. Per client, at most 30 a minute.
func (s *Server) authorizeStart(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	if kind != "pc" && kind != "h5" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, "无法授权 Cannot authorize", bodyErr(err), "/authorize")
		return
	}
	// The form's CSRF token: another site must not start an authorization
	// with its own link in this browser.
	if !s.anonFormOK(r) {
		s.errorPage(w, r, "请求被拒绝 Request refused", errCSRF, "/authorize")
		return
	}
	var prevLink, prevState string
	if c, err := r.Cookie(authorizeCookie); err == nil {
		prevLink, prevState, _ = strings.Cut(c.Value, ".")
	}
	comp := r.PostForm.Get("platform")
	if comp == "" {
		comp = s.DefaultPlatform
	}
	if !s.authorizeLimit.allow(s.clientIP(r)) {
		w.Header().Set("Retry-After", "60")
		s.Logger.Warn("authorization link rate limit hit", "client", s.clientIP(r))
		s.errorPage(w, r, "操作太频繁 Too many attempts", wxfleet.Errorf(wxfleet.EUNAVAILABLE,
			"生成授权链接过于频繁，请一分钟后再试 / too many authorization links from your address; try again in a minute"), "/authorize")
		return
	}
	start, err := s.Auth.StartFromPage(r.Context(), comp, r.PostForm.Get("link"), prevLink, prevState)
	if err != nil {
		s.errorPage(w, r, "无法生成授权链接 Cannot create the authorization link", err, "/authorize")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: authorizeCookie, Value: start.LinkID + "." + start.State, Path: "/authorize",
		HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode, // Lax: sent on WeChat's redirect back (a top-level GET)
		MaxAge: int(time.Until(start.CodeExpiresAt.Add(time.Hour)) / time.Second)})
	target := start.PCURL
	if kind == "h5" {
		target = start.H5URL
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// authorizeCallback is redirect_uri: WeChat sends the browser back with
// auth_code, and the link id and state we gave it.
func (s *Server) authorizeCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	comp := q.Get("c")
	if comp == "" {
		comp = s.DefaultPlatform
	}
	var cookieState string
	if c, err := r.Cookie(authorizeCookie); err == nil {
		if id, st, ok := strings.Cut(c.Value, "."); ok && id == q.Get("link") {
			cookieState = st
		}
	}
	a, err := s.Auth.Callback(r.Context(), comp, q.Get("link"), q.Get("state"), cookieState, q.Get("auth_code"))
	if err != nil {
		s.errorPage(w, r, "授权未完成 Authorization not completed", err, "/authorize")
		return
	}
	aj := toAuthorizerJSON(a, s.Now(), false)
	s.render(w, r, http.StatusOK, "callback", map[string]any{"Title": "授权成功 Authorized", "Authorizer": aj})
}

func (s *Server) authorizersPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	p, err := s.Store.Platform(r.Context(), comp)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	const pageSize = 50
	f, err := authorizerFilter(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	// The total is counted for the first page only: a COUNT(*) over every
	// authorizer of the platform on each later page would cost more than the page.
	f.Limit, f.Total = pageSize, f.Cursor == ""
	list, total, err := s.Store.ListAuthorizers(r.Context(), comp, f)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	now := s.Now()
	items := make([]authorizerJSON, 0, len(list))
	for _, a := range list {
		items = append(items, toAuthorizerJSON(a, now, false))
	}
	q := r.URL.Query()
	data := map[string]any{
		"Title": "授权方 Authorizers", "Platform": comp, "PlatformName": p.Name, "Items": items, "Total": total, "HasTotal": total >= 0,
		"Q": f.Query, "Tag": f.Tag, "Status": string(f.Status), "TenantID": q.Get("tenant_id"), "Statuses": wxfleet.AuthorizerStatuses(),
		"Filtered": f.Query != "" || f.Tag != "" || f.Status != "" || f.TenantID != 0,
	}
	if len(list) == pageSize {
		q.Set("platform", comp)
		q.Set("cursor", list[len(list)-1].AppID)
		data["NextQuery"] = template.URL("?" + q.Encode())
	}
	s.render(w, r, http.StatusOK, "authorizers", data)
}
