package sandbox

import (
	"cmp"
	"net/http"
	"slices"
)

// Call counts, in memory only (a restart or DELETE /sandbox/api/calls resets
// them): per API path and errcode, and per path, authorizer and errcode for
// the calls that name an authorizer, so that a test can prove, say, that no
// authorizer's token was refreshed twice.

type callKey struct {
	path    string
	errcode int
}

type appCallKey struct {
	path, appid string
	errcode     int
}

// count records one answered call. app is the authorizer it was about, "" if none.
func (s *Sandbox) count(path, app string, errcode int) {
	s.mu.Lock()
	s.calls[callKey{path, errcode}]++
	if app != "" {
		s.appCalls[appCallKey{path, app, errcode}]++
	}
	s.mu.Unlock()
}

// GET /sandbox/api/calls → {"items":[{"path","errcode","count"}],"calls":{"<path>":N},"in_flight":{"<path>":N}};
// ?path=…&by=appid → {"items":[{"appid","errcode","count"}]} for that path.
func (s *Sandbox) handleCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch by := q.Get("by"); by {
	case "":
	case "appid":
		s.handleCallsByApp(w, q.Get("path"))
		return
	default:
		writeJSON(w, http.StatusBadRequest, errorBody{`by 只能是 appid / by must be "appid"`})
		return
	}
	type item struct {
		Path    string `json:"path"`
		Errcode int    `json:"errcode"`
		Count   int    `json:"count"`
	}
	items := []item{}
	total := map[string]int{}
	inFlight := map[string]int{}
	s.mu.Lock()
	for p, n := range s.inFlight {
		if n > 0 {
			inFlight[p] = n
		}
	}
	for k, n := range s.calls {
		if p := q.Get("path"); p == "" || p == k.path {
			items = append(items, item{k.path, k.errcode, n})
		}
		total[k.path] += n
	}
	s.mu.Unlock()
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Errcode, b.Errcode))
	})
	writeJSON(w, http.StatusOK, struct {
		Items    []item         `json:"items"`
		Calls    map[string]int `json:"calls"`     // every answered call per path, as earlier versions answered
		InFlight map[string]int `json:"in_flight"` // calls being served now (held by a latency fault, say)
	}{items, total, inFlight})
}

func (s *Sandbox) handleCallsByApp(w http.ResponseWriter, path string) {
	if path == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{"by=appid 需要 path 参数 / by=appid needs ?path=, e.g. /cgi-bin/component/api_authorizer_token"})
		return
	}
	type item struct {
		AppID   string `json:"appid"`
		Errcode int    `json:"errcode"`
		Count   int    `json:"count"`
	}
	items := []item{}
	s.mu.Lock()
	for k, n := range s.appCalls {
		if k.path == path {
			items = append(items, item{k.appid, k.errcode, n})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Errcode, b.Errcode))
	})
	writeJSON(w, http.StatusOK, struct {
		Items []item `json:"items"`
	}{items})
}

// DELETE /sandbox/api/calls
func (s *Sandbox) handleResetCalls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls = map[callKey]int{}
	s.appCalls = map[appCallKey]int{}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		OK bool `json:"ok"`
	}{true})
}
