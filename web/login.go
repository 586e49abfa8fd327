package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
)

const (
	sessionCookie = "wxfleet_session"
	sessionLife   = 7 * 24 * time.Hour
)

// sessionDigest is what the database keeps of a session id: keyed by the
// admin token, so changing the token ends every session, and a copy of the
// database opens none.
func (s *Server) sessionDigest(id string) string {
	m := hmac.New(sha256.New, []byte(s.AdminToken.Reveal()))
	m.Write([]byte("wxfleet console session v2\x00"))
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

// requireSession serves h to a browser with a live console session and
// sends anyone else to the login page, coming back here afterwards.
func (s *Server) requireSession(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sessionOK(r) {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r)
	})
}

func (s *Server) sessionOK(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || s.AdminToken == "" {
		return false
	}
	ok, err := s.Store.ConsoleSessionValid(r.Context(), s.sessionDigest(c.Value), s.Now())
	if err != nil {
		s.Logger.Warn("console session check failed", "err", err)
		return false
	}
	return ok
}

// safeNext keeps post-login redirects on this site. It reads next the way a
// browser would before resolving it against this page: tabs and newlines
// dropped, surrounding spaces and control characters trimmed, backslashes
// taken as slashes. What is left must be a path on this origin: one slash,
// then not a second one.
func safeNext(next string) string {
	const home = "/authorizers"
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

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, "无法登录 Cannot sign in", bodyErr(err), "/login")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	client := s.clientIP(r)
	if !s.logins.allowed(client) {
		w.Header().Set("Retry-After", "60")
		s.logins.failed(client, true)
		s.errorPage(w, r, "操作太频繁 Too many attempts", wxfleet.Errorf(wxfleet.ETOOMANY,
			"登录失败次数过多，请一分钟后再试 / too many failed sign-ins from your address; try again in a minute"), "/login")
		return
	}
	if !s.tokenOK(r.PostForm.Get("token")) {
		s.logins.failed(client, false)
		s.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Title": "登录 Sign in", "Next": next, "Failed": true})
		return
	}
	id := rand.Text()
	now := s.Now()
	if err := s.Store.CreateConsoleSession(r.Context(), s.sessionDigest(id), now, now.Add(sessionLife)); err != nil {
		s.errorPage(w, r, "无法登录 Cannot sign in", err, "/login")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: s.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(sessionLife / time.Second)})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session in the database, so the cookie is worthless even
// if a copy of it survives in another browser. POST only (the route): a link
// or an image must not sign anyone out.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.Store.DeleteConsoleSession(r.Context(), s.sessionDigest(c.Value)); err != nil {
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
