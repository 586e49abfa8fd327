package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// fault is an injected failure on one API path: an errcode, a latency, or
// both, optionally only for calls about some authorizers. Faults live in
// memory only; a restart clears them.
type fault struct {
	ID      int      `json:"id"`
	Path    string   `json:"path"`
	AppIDs  []string `json:"appids,omitempty"`
	Errcode int      `json:"errcode"`
	Errmsg  string   `json:"errmsg,omitempty"`
	Rate    float64  `json:"rate"`
	Latency string   `json:"latency,omitempty"`
	Count   int      `json:"count"` // how many times it fires; 0 = unlimited
	Fired   int      `json:"fired"`
	// LoseAnswer: the call is carried out, then the connection is closed
	// without an answer, as when WeChat acted but its answer was lost. The
	// caller cannot tell this from a call that never arrived.
	LoseAnswer bool `json:"lose_answer,omitempty"`
	latency    time.Duration
	apps       map[string]bool // AppIDs as a set; nil = every call
}

// faultRequest is the body of POST /sandbox/api/faults. Rate is a pointer so
// that an omitted rate means "always" while an explicit 0 means "never".
type faultRequest struct {
	Path       string   `json:"path"`
	AppIDs     []string `json:"appids"`
	Errcode    int      `json:"errcode"`
	Rate       *float64 `json:"rate"`
	Latency    string   `json:"latency"`
	Count      int      `json:"count"`
	LoseAnswer bool     `json:"lose_answer"`
}

func (req faultRequest) fault() (*fault, error) {
	f := &fault{Path: req.Path, Errcode: req.Errcode, Rate: 1, Count: req.Count, Latency: req.Latency, LoseAnswer: req.LoseAnswer}
	if !strings.HasPrefix(f.Path, "/") {
		return nil, errors.New(`path must be an API path such as "/cgi-bin/component/api_authorizer_token"`)
	}
	if req.Rate != nil {
		f.Rate = *req.Rate
	}
	if f.Rate < 0 || f.Rate > 1 {
		return nil, errors.New("rate must be between 0 and 1")
	}
	if f.Count < 0 {
		return nil, errors.New("count must be 0 (unlimited) or more")
	}
	if f.Latency != "" {
		d, err := time.ParseDuration(f.Latency)
		if err != nil || d < 0 {
			return nil, errors.New(`latency must be a Go duration such as "200ms"`)
		}
		f.latency = d
	}
	if f.Errcode == 0 && f.latency == 0 && !f.LoseAnswer {
		return nil, errors.New("a fault needs an errcode, a latency, lose_answer or a combination")
	}
	if f.LoseAnswer && f.Errcode != 0 {
		return nil, errors.New("lose_answer carries the call out: it takes no errcode")
	}
	if f.Errcode != 0 {
		f.Errmsg = errmsg(f.Errcode)
	}
	if req.AppIDs != nil {
		if len(req.AppIDs) == 0 {
			return nil, errors.New("appids, when given, must name at least one authorizer")
		}
		f.AppIDs = slices.Clone(req.AppIDs)
		f.apps = make(map[string]bool, len(req.AppIDs))
		for _, id := range req.AppIDs {
			f.apps[id] = true
		}
	}
	return f, nil
}

// callSubject names the authorizer a call is about, "" when it names none:
// the body's authorizer_appid (api_authorizer_token, api_get_authorizer_info),
// the app an authorization_code was issued for (api_query_auth), the query's
// appid (jscode2session), else the app
// whose authorizer_access_token is in the query.
func (s *Sandbox) callSubject(r *http.Request, body []byte) string {
	if r.URL.Path == pathJSCode2Session {
		return r.URL.Query().Get("appid") // the mini program the user logs in to
	}
	var named struct {
		AppID string `json:"authorizer_appid"`
		Code  string `json:"authorization_code"`
	}
	if bytes.Contains(body, []byte(`"authorizer_appid"`)) || bytes.Contains(body, []byte(`"authorization_code"`)) {
		json.Unmarshal(body, &named)
	}
	if named.AppID != "" {
		return named.AppID
	}
	tok := r.URL.Query().Get("access_token")
	s.mu.Lock()
	defer s.mu.Unlock()
	if named.Code != "" {
		for _, cs := range s.st.Components {
			if c, ok := cs.AuthCodes.get(named.Code); ok {
				return c.AppID
			}
		}
	}
	if authz := s.st.tokens[codeIDOf(tok)]; tok != "" && authz != nil {
		return authz.AppID
	}
	return ""
}

// applyFault applies the first fault on the call's path (and app) that
// fires: it waits out the latency and returns the errcode to answer, 0 for
// none. stop reports that the caller went away during the latency.
func (s *Sandbox) applyFault(r *http.Request, path, app string) (errcode int, stop, lose bool) {
	s.mu.Lock()
	var fired *fault
	for i, f := range s.faults {
		if f.Path != path || (f.apps != nil && !f.apps[app]) || (f.Rate < 1 && rand.Float64() >= f.Rate) {
			continue
		}
		f.Fired++
		c := *f
		fired = &c
		if f.Count > 0 && f.Fired >= f.Count {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		break
	}
	s.mu.Unlock()
	if fired == nil {
		return 0, false, false
	}
	if fired.latency > 0 {
		t := time.NewTimer(fired.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return 0, true, false
		}
	}
	return fired.Errcode, false, fired.LoseAnswer
}
