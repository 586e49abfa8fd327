package sandbox

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// fault is an injected failure on one API path: an errcode, a latency, or
// both. Faults live in memory only; a restart clears them.
type fault struct {
	ID      int     `json:"id"`
	Path    string  `json:"path"`
	Errcode int     `json:"errcode"`
	Errmsg  string  `json:"errmsg,omitempty"`
	Rate    float64 `json:"rate"`
	Latency string  `json:"latency,omitempty"`
	Count   int     `json:"count"` // how many times it fires; 0 = unlimited
	Fired   int     `json:"fired"`
	latency time.Duration
}

// faultRequest is the body of POST /sandbox/api/faults. Rate is a pointer so
// that an omitted rate means "always" while an explicit 0 means "never".
type faultRequest struct {
	Path    string   `json:"path"`
	Errcode int      `json:"errcode"`
	Rate    *float64 `json:"rate"`
	Latency string   `json:"latency"`
	Count   int      `json:"count"`
}

func (req faultRequest) fault() (*fault, error) {
	f := &fault{Path: req.Path, Errcode: req.Errcode, Rate: 1, Count: req.Count, Latency: req.Latency}
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
	if f.Errcode == 0 && f.latency == 0 {
		return nil, errors.New("a fault needs an errcode, a latency or both")
	}
	if f.Errcode != 0 {
		f.Errmsg = errmsg(f.Errcode)
	}
	return f, nil
}

// applyFault counts the call and applies the first fault on its path that
// fires. It reports whether it answered the request.
func (s *Sandbox) applyFault(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	s.mu.Lock()
	s.calls[path]++
	var fired *fault
	for i, f := range s.faults {
		if f.Path != path || (f.Rate < 1 && rand.Float64() >= f.Rate) {
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
		return false
	}
	if fired.latency > 0 {
		t := time.NewTimer(fired.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	if fired.Errcode != 0 {
		s.writeWxError(w, fired.Errcode)
		return true
	}
	return false
}
