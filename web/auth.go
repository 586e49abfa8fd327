package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// Via values of wxfleet.Actor.
const (
	viaAdminToken = "admin_token"
	viaAPIToken   = "api_token"
	viaSession    = "session"
)

// apiTokenPrefix starts every API token, so a leaked one is easy to grep for
// and is never mistaken for the admin token.
const apiTokenPrefix = "wxf_"

// newAPIToken is a fresh API token: the prefix and 128 random bits.
func newAPIToken() string { return apiTokenPrefix + rand.Text() }

// consoleSession is the signed-in browser a request came from.
type consoleSession struct {
	id    string // the cookie's value: the CSRF token is derived from it
	actor wxfleet.Actor
}

type sessionKey struct{}

func sessionFrom(ctx context.Context) (*consoleSession, bool) {
	cs, ok := ctx.Value(sessionKey{}).(*consoleSession)
	return cs, ok
}

func adminActor() wxfleet.Actor {
	return wxfleet.Actor{Name: "admin token", Role: wxfleet.RoleOwner, Via: viaAdminToken}
}

// bearerActor resolves an Authorization: Bearer header: the admin token, or
// an API token acting with its own role bounded by its account's current
// one (a merchant's bound to the merchant's tenant). ok is false when the
// request carries no bearer token at all.
func (s *Server) bearerActor(r *http.Request) (actor wxfleet.Actor, ok bool, err error) {
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found {
		return actor, false, nil
	}
	tok = strings.TrimSpace(tok)
	if s.tokenOK(tok) {
		return adminActor(), true, nil
	}
	bad := wxfleet.Errorf(wxfleet.EUNAUTHORIZED, "缺少或错误的令牌（Authorization: Bearer <token>）/ missing or wrong token (Authorization: Bearer <admin or API token>)")
	if !strings.HasPrefix(tok, apiTokenPrefix) {
		return actor, true, bad
	}
	t, acct, err := s.Store.APITokenByDigest(r.Context(), store.APITokenDigest(tok), s.Now())
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return actor, true, bad
	}
	if err != nil {
		return actor, true, err
	}
	actor = wxfleet.Actor{Name: t.CreatedBy, Role: t.Role, TenantID: t.TenantID, Via: viaAPIToken}
	if acct != nil {
		actor.AccountID, actor.Name = acct.ID, acct.Email
		actor.Role = t.Role.Lesser(acct.Role)
		if acct.Role == wxfleet.RoleMerchant && acct.TenantID != t.TenantID {
			return wxfleet.Actor{}, true, bad // the account moved to another tenant: its old tenant's token is void
		}
		if actor.Role == wxfleet.RoleMerchant {
			actor.TenantID = acct.TenantID
		}
	}
	if actor.Name == "" {
		actor.Name = "api token " + t.Prefix
	}
	return actor, true, nil
}

// sessionDigest is what the database keeps of a session id: keyed by the
// admin token, so changing the token ends every session, and a copy of the
// database opens none.
func (s *Server) sessionDigest(id string) string {
	return s.keyed("wxfleet console session v2", id)
}

// keyed is an HMAC of value under the admin token, domain-separated by purpose.
func (s *Server) keyed(purpose, value string) string {
	m := hmac.New(sha256.New, []byte(s.AdminToken.Reveal()))
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// session resolves the console cookie into the signed-in actor: the admin
// token's session (owner), or an account's while it is enabled and its
// password unchanged.
func (s *Server) session(r *http.Request) (*consoleSession, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || s.AdminToken == "" {
		return nil, false
	}
	cs, err := s.Store.ConsoleSession(r.Context(), s.sessionDigest(c.Value), s.Now())
	if err != nil {
		if wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			s.Logger.Warn("console session check failed", "err", err)
		}
		return nil, false
	}
	actor := adminActor()
	actor.Via = viaSession
	if cs.Account != nil {
		actor = cs.Account.Actor(viaSession)
	}
	return &consoleSession{id: c.Value, actor: actor}, true
}

func (s *Server) sessionOK(r *http.Request) bool {
	_, ok := s.session(r)
	return ok
}

// api registers an API route with its access: the caller is resolved
// (bearer token, or the console's session, whose mutating calls must carry
// the session's CSRF token in X-CSRF-Token), checked against the
// declaration, and a successful mutating call is written to the audit log.
func (s *Server) api(mux *http.ServeMux, pattern string, a Access, h func(http.ResponseWriter, *http.Request) error) {
	s.register(pattern, a)
	mux.Handle(pattern, capBody(s.apiCap(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, cs, err := s.apiActor(r)
		if err != nil {
			if wxfleet.ErrorCode(err) == wxfleet.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="wxfleet"`)
			}
			s.apiError(w, r, err)
			return
		}
		if err := authorize(a, actor, r.Method); err != nil {
			s.apiError(w, r, err)
			return
		}
		ctx := wxfleet.WithActor(r.Context(), actor)
		if cs != nil {
			ctx = context.WithValue(ctx, sessionKey{}, cs)
		}
		r, note := s.withAudit(r.WithContext(ctx), a, actor)
		if err := h(w, r); err != nil {
			s.apiError(w, r, err)
			return
		}
		s.finishAudit(r, note)
	})))
}

// apiActor is who calls the API: a bearer token, else the console session
// (with its CSRF token on anything but a read).
func (s *Server) apiActor(r *http.Request) (wxfleet.Actor, *consoleSession, error) {
	actor, found, err := s.bearerActor(r)
	if found {
		return actor, nil, err
	}
	if cs, ok := s.session(r); ok {
		if !safeMethod(r.Method) && !s.csrfOK(cs, r.Header.Get("X-CSRF-Token")) {
			return wxfleet.Actor{}, nil, errCSRF
		}
		return cs.actor, cs, nil
	}
	return wxfleet.Actor{}, nil, wxfleet.Errorf(wxfleet.EUNAUTHORIZED, "缺少或错误的令牌（Authorization: Bearer <token>）/ missing or wrong token (Authorization: Bearer <admin or API token>)")
}

var errCSRF = wxfleet.Errorf(wxfleet.EFORBIDDEN, "缺少或错误的 CSRF 令牌，请刷新页面后重试 / missing or wrong CSRF token: reload the page and try again")

func (s *Server) apiCap() int64 {
	if s.APIBodyCap > 0 {
		return s.APIBodyCap
	}
	return DefaultAPIBodyCap
}

// page registers a console page (or form) with its access: a browser
// without a live session goes to the login page (a form post is refused),
// a form post must carry the session's CSRF token (403 otherwise), and an
// actor the declaration leaves out sees a 403 page.
func (s *Server) page(mux *http.ServeMux, pattern string, a Access, h http.HandlerFunc) {
	s.pageCap(mux, pattern, a, formBodyCap, h)
}

// pageCap is page with a form body cap of its own (a form carrying ext_json).
func (s *Server) pageCap(mux *http.ServeMux, pattern string, a Access, bodyCap int64, h http.HandlerFunc) {
	s.register(pattern, a)
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs, ok := s.session(r)
		if !ok {
			if safeMethod(r.Method) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.errorPage(w, r, "请先登录 Please sign in", wxfleet.Errorf(wxfleet.EUNAUTHORIZED, "会话已结束，请重新登录 / your session ended: sign in again"), "/login")
			return
		}
		r = r.WithContext(context.WithValue(wxfleet.WithActor(r.Context(), cs.actor), sessionKey{}, cs))
		if !safeMethod(r.Method) {
			if err := parseConsoleForm(r); err != nil {
				s.errorPage(w, r, "无法提交 Cannot submit", bodyErr(err), "/")
				return
			}
			if r.MultipartForm != nil {
				defer r.MultipartForm.RemoveAll()
			}
			// The form's hidden field, or the header htmx sends (the
			// layout's hx-headers) for a request it makes itself.
			got := r.PostForm.Get(csrfField)
			if got == "" {
				got = r.Header.Get("X-CSRF-Token")
			}
			if !s.csrfOK(cs, got) {
				s.errorPage(w, r, "请求被拒绝 Request refused", errCSRF, "/")
				return
			}
		}
		if err := authorize(a, cs.actor, r.Method); err != nil {
			s.errorPage(w, r, "没有权限 Not allowed", err, "/")
			return
		}
		r, note := s.withAudit(r, a, cs.actor)
		h(w, r) // a handler that fails shows errorPage, which skips the audit entry
		s.finishAudit(r, note)
	})
	if !safeMethod(strings.SplitN(pattern, " ", 2)[0]) {
		handler = capBody(bodyCap, handler)
	}
	mux.Handle(pattern, handler)
}

// parseConsoleForm reads a form post: urlencoded, or multipart (a form
// with a file), whose parts beyond 1 MiB wait in temporary files; the
// route's body cap bounds both.
func parseConsoleForm(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(1 << 20)
	}
	return r.ParseForm()
}

// csrfField is the hidden field every console form carries.
const csrfField = "csrf"

// csrfToken is the session's CSRF token: derived from the session id, so it
// needs no storage and ends with the session.
func (s *Server) csrfToken(cs *consoleSession) string { return s.keyed("wxfleet csrf v1", cs.id) }

func (s *Server) csrfOK(cs *consoleSession, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrfToken(cs))) == 1
}

// Forms shown before anyone signs in (the login and the merchant's 授权
// buttons) are bound to a random cookie of the browser instead (double
// submit, keyed): another site can make a browser post, but cannot read
// the cookie nor the page to learn the field.
const formCookie = "wxfleet_form"

// formToken is the CSRF token of this browser's forms, setting its cookie
// when it has none (call before the response's header is written).
func (s *Server) formToken(w http.ResponseWriter, r *http.Request) string {
	if cs, ok := sessionFrom(r.Context()); ok {
		return s.csrfToken(cs)
	}
	v := ""
	if c, err := r.Cookie(formCookie); err == nil && len(c.Value) >= 16 {
		v = c.Value
	} else {
		v = rand.Text()
		http.SetCookie(w, &http.Cookie{Name: formCookie, Value: v, Path: "/", HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	}
	return s.keyed("wxfleet form v1", v)
}

// anonFormOK checks an anonymous form's CSRF field against its cookie.
func (s *Server) anonFormOK(r *http.Request) bool {
	c, err := r.Cookie(formCookie)
	got := r.PostForm.Get(csrfField)
	if err != nil || len(c.Value) < 16 || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.keyed("wxfleet form v1", c.Value))) == 1
}
