package web

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/password"
	"github.com/wxfleet/wxfleet/store"
)

const (
	sessionCookie = "wxfleet_session"
	sessionLife   = 7 * 24 * time.Hour
)

// defaultNext is where a sign-in lands without a next page.
const defaultNext = "/authorizers"

// safeNext keeps post-login redirects on this site. It reads next the way a
// browser would before resolving it against this page: tabs and newlines
// dropped, surrounding spaces and control characters trimmed, backslashes
// taken as slashes. What is left must be a path on this origin: one slash,
// then not a second one.
func safeNext(next string) string {
	const home = defaultNext
	n := strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, next)
	n = strings.TrimFunc(n, func(r rune) bool { return r <= ' ' })
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return home
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return home
	}
	return n
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", map[string]any{"Title": "登录 Sign in", "Next": safeNext(r.URL.Query().Get("next"))})
}

// maxEmailLen bounds what a failed sign-in writes to the audit log.
const maxEmailLen = 254

// login signs a browser in with an account's email and password, or with
// the admin token (the bootstrap and emergency way in: it works with no
// account at all). The form carries its CSRF token. Failed tries are
// throttled per client address and per account, and every try that was
// let through is written to the audit log.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, "无法登录 Cannot sign in", bodyErr(err), "/login")
		return
	}
	if !s.anonFormOK(r) {
		s.errorPage(w, r, "请求被拒绝 Request refused", errCSRF, "/login")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	client := s.clientIP(r)
	email := store.NormalizeEmail(r.PostForm.Get("email"))
	if len(email) > maxEmailLen {
		email = email[:maxEmailLen]
	}
	viaToken := email == "" && r.PostForm.Get("token") != ""
	keys := []string{client}
	if !viaToken {
		keys = append(keys, "account:"+email)
	}
	for _, k := range keys {
		if !s.logins.allowed(k) {
			w.Header().Set("Retry-After", "60")
			s.logins.failed(k, true)
			s.errorPage(w, r, "操作太频繁 Too many attempts", wxfleet.Errorf(wxfleet.ETOOMANY,
				"登录失败次数过多，请一分钟后再试 / too many failed sign-ins from your address or for this account; try again in a minute"), "/login")
			return
		}
	}
	now := s.Now()
	entry := wxfleet.AuditEntry{At: now, Via: "login", ClientIP: client, Action: "login.success"}
	var acct *wxfleet.Account
	if viaToken {
		entry.ActorName, entry.Detail = "admin token", `{"method":"admin_token"}`
		if !s.tokenOK(r.PostForm.Get("token")) {
			s.loginFailed(w, r, keys, entry, next, "")
			return
		}
	} else {
		entry.ActorName, entry.Detail = email, `{"method":"password"}`
		var ok bool
		acct, ok = s.checkPassword(r.Context(), email, r.PostForm.Get("password"))
		if !ok {
			s.loginFailed(w, r, keys, entry, next, email)
			return
		}
		entry.ActorID, entry.TenantID = acct.ID, acct.TenantID
		if acct.Role == wxfleet.RoleMerchant && next == defaultNext {
			next = "/"
		}
	}
	id := rand.Text()
	if err := s.Store.CreateAccountSession(r.Context(), s.sessionDigest(id), acct, now, now.Add(sessionLife), &entry); err != nil {
		s.errorPage(w, r, "无法登录 Cannot sign in", err, "/login")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: s.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(sessionLife / time.Second)})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// checkPassword returns the enabled account email names if password is its
// password. An unknown email costs the same time as a wrong password.
func (s *Server) checkPassword(ctx context.Context, email, plain string) (*wxfleet.Account, bool) {
	// Each verification takes argon2id's memory (19 MiB): a bounded number
	// run at once, so a flood of sign-ins from many addresses queues
	// instead of exhausting the server's memory.
	select {
	case s.hashSlots <- struct{}{}:
		defer func() { <-s.hashSlots }()
	case <-ctx.Done():
		return nil, false
	}
	acct, err := s.Store.AccountByEmail(ctx, email)
	if err != nil {
		if wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			s.Logger.Warn("sign-in: reading the account failed", "err", err)
		}
		password.VerifyNothing(plain)
		return nil, false
	}
	ok, err := password.Verify(acct.PasswordHash, plain)
	if err != nil {
		s.Logger.Error("sign-in: the stored password hash cannot be read", "account", acct.ID, "err", err)
	}
	if !ok || acct.Disabled {
		return nil, false
	}
	if password.NeedsRehash(acct.PasswordHash) {
		// Made with weaker costs than today's: hash it again now that the
		// password is at hand. The account's credentials move on, so the
		// session made next is bound to the new ones.
		if hash, err := password.Hash(plain); err == nil {
			if a, err := s.Store.UpdateAccount(ctx, acct.ID, store.AccountChange{PasswordHash: &hash}, s.Now(), nil); err == nil {
				acct = a
			} else {
				s.Logger.Warn("sign-in: re-hashing the password failed", "account", acct.ID, "err", err)
			}
		}
	}
	return acct, true
}

// loginFailed throttles and records a failed sign-in and shows the form
// again; it says neither whether the account exists nor whether it is disabled.
func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, keys []string, entry wxfleet.AuditEntry, next, email string) {
	for _, k := range keys {
		s.logins.failed(k, false)
	}
	entry.Action = "login.failure"
	if err := s.Store.WriteAudit(r.Context(), &entry); err != nil {
		s.Logger.Error("audit entry not written", "action", entry.Action, "err", err)
	}
	s.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Title": "登录 Sign in", "Next": next, "Failed": true, "Email": email})
}

// logout ends the session in the database, so the cookie is worthless even
// if a copy of it survives in another browser. POST only (the route), with
// the session's CSRF token: another site must not sign anyone out. A
// browser whose session already ended just loses the cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, "无法退出 Cannot sign out", bodyErr(err), "/")
		return
	}
	if cs, ok := s.session(r); ok {
		if !s.csrfOK(cs, r.PostForm.Get(csrfField)) {
			s.errorPage(w, r, "请求被拒绝 Request refused", errCSRF, "/")
			return
		}
		if err := s.Store.DeleteConsoleSession(r.Context(), s.sessionDigest(cs.id)); err != nil {
			s.errorPage(w, r, "无法退出 Cannot sign out", err, "/")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.SecureCookies, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// loginGuard throttles failed sign-ins per client — five in a burst, then one
// every twelve seconds — and logs them once per burst rather than once per
// try, so a guessing script neither gets far nor floods the log.
type loginGuard struct {
	limit  *limiter
	now    func() time.Time
	logger *slog.Logger

	mu     sync.Mutex
	bursts map[string]*failBurst
}

type failBurst struct {
	first, last time.Time
	count       int
	throttled   int
}

// burstQuiet ends a burst: after this long without a failure the next one is logged again.
const burstQuiet = time.Minute

func newLoginGuard(now func() time.Time, logger *slog.Logger) *loginGuard {
	return &loginGuard{limit: newLimiter(5, 5, now), now: now, logger: logger, bursts: map[string]*failBurst{}}
}

// allowed reports whether client may try now (a failure spends a try).
func (g *loginGuard) allowed(client string) bool { return g.limit.peek(client) }

// failed records a failed or throttled try and logs the first of a burst,
// with what the previous burst amounted to.
func (g *loginGuard) failed(client string, throttled bool) {
	if !throttled {
		g.limit.allow(client)
	}
	now := g.now()
	g.mu.Lock()
	b := g.bursts[client]
	var ended *failBurst
	if b == nil || now.Sub(b.last) > burstQuiet {
		if b != nil && b.count > 1 {
			cp := *b
			ended = &cp
		}
		if len(g.bursts) > 10_000 {
			for k, v := range g.bursts {
				if now.Sub(v.last) > burstQuiet {
					delete(g.bursts, k)
				}
			}
		}
		b = &failBurst{first: now}
		g.bursts[client] = b
	}
	b.last = now
	b.count++
	if throttled {
		b.throttled++
	}
	first := b.count == 1
	g.mu.Unlock()
	if ended != nil {
		g.logger.Warn("console login failures ended", "client", client, "failures", ended.count, "throttled", ended.throttled,
			"during", ended.last.Sub(ended.first).Round(time.Second).String())
	}
	if first {
		g.logger.Warn("console login failed; further failures from this client are logged when the burst ends", "client", client)
	}
}
