package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// The runtime API, /runtime/v1: what the merchants' mini programs call
// (package runtimeapi has the logic). It is public: no admin token; a
// session token from POST /runtime/v1/login opens the rest. Mini programs
// call it with wx.request, which is not a browser, so there is no CORS and
// no cookie. Errors have the API's one shape (ErrorBody).

// runtimeLoginBodyCap bounds a login body: an appid and a code.
const runtimeLoginBodyCap = 4 << 10

// runtimeRoutes registers /runtime/v1 when the server has a runtime service.
func (s *Server) runtimeRoutes(mux *http.ServeMux) {
	if s.Runtime == nil {
		return
	}
	rt := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, capBody(runtimeLoginBodyCap, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Answers name a user's session: no shared cache keeps them.
			w.Header().Set("Cache-Control", "no-store")
			if err := h(w, r); err != nil {
				s.apiError(w, r, err)
			}
		})))
	}
	rt("POST /runtime/v1/login", s.runtimeLogin)
	rt("GET /runtime/v1/config", s.runtimeConfig)
	rt("GET /runtime/v1/me", s.runtimeMe)
	rt("POST /runtime/v1/logout", s.runtimeLogout)
	rt("/runtime/", func(w http.ResponseWriter, r *http.Request) error {
		return wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个接口 / no such API: %s %s", r.Method, r.URL.Path)
	})
}

// POST /runtime/v1/login {"appid","code","component_appid"?} → {"token","expires_in"}
func (s *Server) runtimeLogin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		AppID          string `json:"appid"`
		Code           string `json:"code"`
		ComponentAppID string `json:"component_appid"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	// Every login spends a WeChat call: a client looping on it is slowed
	// per mini program and address, not the others.
	if !s.runtimeLimit.allow(req.AppID + " " + s.clientIP(r)) {
		w.Header().Set("Retry-After", "10")
		return wxfleet.Errorf(wxfleet.ETOOMANY, "登录过于频繁，请稍后再试 / too many logins from this address: try again shortly")
	}
	l, err := s.Runtime.Login(r.Context(), req.ComponentAppID, req.AppID, req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}{l.Token.Reveal(), int(l.ExpiresIn.Seconds())})
	return nil
}

// runtimeSession reads the session the request's bearer token names.
func (s *Server) runtimeSession(w http.ResponseWriter, r *http.Request) (*wxfleet.RuntimeSession, error) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	rs, err := s.Runtime.Session(r.Context(), strings.TrimSpace(tok))
	if wxfleet.ErrorCode(err) == wxfleet.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wxfleet runtime"`)
	}
	return rs, err
}

// GET /runtime/v1/config → the settings object, with an ETag (a digest of
// the body); If-None-Match with it → 304. "private, no-cache": the mini
// program may keep it, but asks each time whether it changed.
func (s *Server) runtimeConfig(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.runtimeSession(w, r)
	if err != nil {
		return err
	}
	cfg, err := s.Runtime.Config(r.Context(), rs)
	if err != nil {
		return err
	}
	body, err := json.Marshal(cfg) // map keys sorted: the same settings, the same bytes
	if err != nil {
		return wxfleet.WrapError(wxfleet.EINTERNAL, "设置无法编码 / the settings cannot be encoded", err)
	}
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	h := w.Header()
	h.Set("Cache-Control", "private, no-cache")
	h.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.Write(append(body, '\n'))
	return nil
}

// etagMatches applies If-None-Match: a list of tags, weak or strong, or "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// GET /runtime/v1/me → {"appid","openid","unionid"?,"expires_at"}: who the session is. Never the session_key.
func (s *Server) runtimeMe(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.runtimeSession(w, r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		AppID     string `json:"appid"`
		OpenID    string `json:"openid"`
		UnionID   string `json:"unionid,omitempty"`
		ExpiresAt string `json:"expires_at"`
	}{rs.AppID, rs.OpenID, rs.UnionID, rs.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")})
	return nil
}

// POST /runtime/v1/logout → 204: the token stops working.
func (s *Server) runtimeLogout(w http.ResponseWriter, r *http.Request) error {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if err := s.Runtime.Logout(r.Context(), strings.TrimSpace(tok)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
