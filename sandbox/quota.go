package sandbox

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Daily call quotas (每日调用上限) and their resets (clear_quota), as WeChat
// keeps them: per account (the component for component APIs, the mini program
// for its own) and per API, counted over a day in Beijing time; a call over
// the limit gets 45009. clear_quota resets an account's counts, at most 10
// times a month (48006 after). Every emulated API is counted; the ones whose
// daily limit a source gives are limited by default (defaultQuotaLimits);
// POST /sandbox/api/quotas changes any limit. /cgi-bin/openapi/quota/get
// reads the same counts.
const quotaResetsPerMonth = 10

// defaultQuotaLimits are the daily limits sources give for the emulated
// APIs (docs/wechat-sandbox.md, "Daily quotas"). WeChat publishes no figure
// for the others; they are counted but not limited until a test sets one.
var defaultQuotaLimits = map[string]int{
	// The answer of getApiQuota a developer quoted on WeChat's forum (WeChat
	// staff: the limit is what getApiQuota says).
	"/cgi-bin/component/api_component_token": 10000,
	// 发送客服消息, WeChat's table of daily limits (接口调用频次限制说明).
	"/cgi-bin/message/custom/send": 500000,
}

// quotaState is the part of the state that quotas keep.
type quotaState struct {
	Limits map[string]int       `json:"limits,omitempty"` // daily limit by API path, over the default; 0 is none
	Used   map[string]*quotaUse `json:"used,omitempty"`   // by account + " " + path
	Resets map[string]*quotaUse `json:"resets,omitempty"` // clear_quota calls by account
}

// quotaUse counts calls within one period (a day, or a month for resets).
type quotaUse struct {
	Period string `json:"period"`
	Count  int    `json:"count"`
}

var beijing = time.FixedZone("CST", 8*3600)

func quotaDay(t time.Time) string   { return t.In(beijing).Format("2006-01-02") }
func quotaMonth(t time.Time) string { return t.In(beijing).Format("2006-01") }

// quotaAccount names whose quota a call uses: the body's component_appid for
// component APIs, the mini program whose access_token is in the query for
// its own. "" when neither says (the API then refuses the call anyway).
// Callers hold s.mu.
func (s *Sandbox) quotaAccount(r *http.Request, body []byte) string {
	if appid := s.callingComponent(r, body); appid != "" {
		return appid
	}
	if _, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), s.now()); code == 0 {
		return authz.AppID
	}
	return ""
}

// quotaLimit is the daily limit of path: the one set through the control
// API, else the default; ok is false when there is none. Callers hold s.mu.
func (s *Sandbox) quotaLimit(path string) (limit int, ok bool) {
	if n, set := s.st.Quota.Limits[path]; set {
		return n, n > 0
	}
	n, ok := defaultQuotaLimits[path]
	return n, ok
}

// quotaUsed is today's count of account's calls of path. Callers hold s.mu.
func (s *Sandbox) quotaUsed(account, path string) int {
	if u := s.st.Quota.Used[account+" "+path]; u != nil && u.Period == quotaDay(s.now()) {
		return u.Count
	}
	return 0
}

// quotaTake counts a call of account on path and reports whether it is
// within the day's limit; a refused call is not counted. The count is
// written soon, not before the answer: a crash may forget a few calls,
// which harms no one. Callers hold s.mu.
func (s *Sandbox) quotaTake(account, path string) bool {
	if account == "" {
		return true
	}
	q := &s.st.Quota
	if q.Used == nil {
		q.Used = map[string]*quotaUse{}
	}
	day := quotaDay(s.now())
	u := q.Used[account+" "+path]
	if u == nil || u.Period != day {
		u = &quotaUse{Period: day}
		q.Used[account+" "+path] = u
	}
	if limit, limited := s.quotaLimit(path); limited && u.Count >= limit {
		return false
	}
	u.Count++
	s.touchSoon(ref{kind: kQuotaUsed, a: account, b: path})
	return true
}

// quotaClear resets account's counts: 48006 once it has been done
// quotaResetsPerMonth times this month. Callers hold s.mu.
func (s *Sandbox) quotaClear(account string) int {
	q := &s.st.Quota
	if q.Resets == nil {
		q.Resets = map[string]*quotaUse{}
	}
	month := quotaMonth(s.now())
	u := q.Resets[account]
	if u == nil || u.Period != month {
		u = &quotaUse{Period: month}
		q.Resets[account] = u
	}
	if u.Count >= quotaResetsPerMonth {
		return 48006
	}
	u.Count++
	s.touch(ref{kind: kQuotaResets, a: account})
	for k := range q.Used {
		if acct, path, _ := strings.Cut(k, " "); acct == account {
			delete(q.Used, k)
			s.touch(ref{kind: kQuotaUsed, a: acct, b: path})
		}
	}
	return 0
}

// POST /cgi-bin/component/clear_quota?component_access_token=… {"component_appid"}:
// the component resets its own quota.
func (s *Sandbox) apiClearComponentQuota(r *http.Request, body []byte) (any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var req struct {
		ComponentAppID string `json:"component_appid"`
	}
	c, _, code := s.componentCall(r, body, &req, &req.ComponentAppID)
	if code != 0 {
		return nil, code
	}
	if code := s.quotaClear(c.AppID); code != 0 {
		return nil, code
	}
	return wxError{Errcode: 0, Errmsg: "ok"}, 0
}

// POST /cgi-bin/component/clear_quota/v2 {"component_appid","appsecret"[,"appid"]}:
// with the component's secret instead of a token; with appid, the quota of
// a mini program authorized to the component.
func (s *Sandbox) apiClearQuotaV2(r *http.Request, body []byte) (any, int) {
	var req struct {
		ComponentAppID string `json:"component_appid"`
		AppSecret      string `json:"appsecret"`
		AppID          string `json:"appid"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	c, code := s.componentBySecret(req.ComponentAppID, req.AppSecret)
	if code != 0 {
		return nil, code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	account := c.AppID
	if req.AppID != "" {
		authz := s.st.ensureComponent(c.AppID).Authorizations[req.AppID]
		if authz == nil || !authz.Authorized {
			return nil, 61003 // component is not authorized by this account
		}
		account = req.AppID
	}
	if code := s.quotaClear(account); code != 0 {
		return nil, code
	}
	return wxError{Errcode: 0, Errmsg: "ok"}, 0
}

// POST /cgi-bin/clear_quota?access_token=<authorizer token> {"appid"}: a mini
// program's quota, reset by the platform on its behalf.
func (s *Sandbox) apiClearAuthorizerQuota(r *http.Request, body []byte) (any, int) {
	var req struct {
		AppID string `json:"appid"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), s.now())
	if code != 0 {
		return nil, code
	}
	if req.AppID != authz.AppID {
		return nil, 40013
	}
	if code := s.quotaClear(authz.AppID); code != 0 {
		return nil, code
	}
	return wxError{Errcode: 0, Errmsg: "ok"}, 0
}

// POST /cgi-bin/openapi/quota/get?access_token=… {"cgi_path"} → {"errcode":0,
// "errmsg":"ok","quota":{"daily_limit","used","remain"}}: today's count of the
// caller's calls of one API, the same count 45009 and clear_quota use. The
// component's token asks about component APIs, an authorizer's about its
// own (76022 the other way round, and for /sns/ paths); a path the sandbox
// does not emulate is 76021. An API without a limit answers daily_limit 0
// and remain 0, as WeChat's own example does.
func (s *Sandbox) apiQuotaGet(r *http.Request, body []byte) (any, int) {
	var req struct {
		CgiPath string `json:"cgi_path"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	account, isComponent := "", false
	if c, _, code := s.componentByToken(r); code == 0 {
		account, isComponent = c.AppID, true
	} else if _, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), s.now()); code == 0 {
		account = authz.AppID
	} else {
		return nil, code
	}
	if strings.HasPrefix(req.CgiPath, "/sns/") {
		return nil, 76022
	}
	kind, known := apiTokens[req.CgiPath]
	if !known {
		return nil, 76021
	}
	componentAPI := kind == tokenComponent || kind == tokenNone
	if (componentAPI && !isComponent) || (kind == tokenAuthorizer && isComponent) {
		return nil, 76022
	}
	used := s.quotaUsed(account, req.CgiPath)
	limit, limited := s.quotaLimit(req.CgiPath)
	type quota struct {
		DailyLimit int `json:"daily_limit"`
		Used       int `json:"used"`
		Remain     int `json:"remain"`
	}
	q := quota{Used: used}
	if limited {
		q.DailyLimit, q.Remain = limit, max(0, limit-used)
	}
	return struct {
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
		Quota   quota  `json:"quota"`
	}{0, "ok", q}, 0
}

// GET /sandbox/api/quotas: the limits in force (defaults and the ones set)
// and today's use.
func (s *Sandbox) handleQuotas(w http.ResponseWriter, r *http.Request) {
	type use struct {
		Account string `json:"account"`
		Path    string `json:"path,omitempty"`
		Period  string `json:"period"`
		Count   int    `json:"count"`
	}
	out := struct {
		Limits   map[string]int `json:"limits"`
		Defaults map[string]int `json:"defaults"`
		Used     []use          `json:"used"`
		Resets   []use          `json:"resets"`
	}{Limits: map[string]int{}, Defaults: defaultQuotaLimits, Used: []use{}, Resets: []use{}}
	s.mu.Lock()
	q := s.st.Quota
	for p := range s.apiPaths {
		if n, ok := s.quotaLimit(p); ok {
			out.Limits[p] = n
		}
	}
	for k, u := range q.Used {
		acct, path, _ := strings.Cut(k, " ")
		out.Used = append(out.Used, use{acct, path, u.Period, u.Count})
	}
	for acct, u := range q.Resets {
		out.Resets = append(out.Resets, use{Account: acct, Period: u.Period, Count: u.Count})
	}
	s.mu.Unlock()
	byKey := func(a, b use) int { return strings.Compare(a.Account+a.Path, b.Account+b.Path) }
	slices.SortFunc(out.Used, byKey)
	slices.SortFunc(out.Resets, byKey)
	writeJSON(w, http.StatusOK, out)
}

// POST /sandbox/api/quotas {"path": "/cgi-bin/…", "daily_limit": N}: sets the
// daily limit of one API for every account; 0 is no limit. {"path", "reset":
// true} brings back the default. "path": "*" means every emulated API.
func (s *Sandbox) handleSetQuota(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path       string `json:"path"`
		DailyLimit *int   `json:"daily_limit"`
		Reset      bool   `json:"reset"`
	}
	const usage = `请求体应为 {"path": "/cgi-bin/…" 或 "*", "daily_limit": N（0 为不限）} 或 {"path", "reset": true} / body must be {"path": "/cgi-bin/…" or "*", "daily_limit": N (0: none)} or {"path", "reset": true}`
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || (req.DailyLimit == nil) == !req.Reset {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": usage})
		return
	}
	if (req.Path != "*" && !s.apiPaths[req.Path]) || (req.DailyLimit != nil && *req.DailyLimit < 0) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "path 须为沙箱模拟的接口之一或 *，daily_limit 不能为负 / path must be an API the sandbox emulates or *, and daily_limit not negative: " + req.Path})
		return
	}
	paths := []string{req.Path}
	if req.Path == "*" {
		paths = slices.Sorted(maps.Keys(s.apiPaths))
	}
	s.mu.Lock()
	if s.st.Quota.Limits == nil {
		s.st.Quota.Limits = map[string]int{}
	}
	for _, p := range paths {
		if req.Reset {
			delete(s.st.Quota.Limits, p)
		} else {
			s.st.Quota.Limits[p] = *req.DailyLimit
		}
	}
	s.touch(ref{kind: kQuotaLimits})
	limit, limited := s.quotaLimit(paths[0])
	s.mu.Unlock()
	if !limited {
		limit = 0
	}
	writeJSON(w, http.StatusOK, map[string]any{"path": req.Path, "daily_limit": limit})
}
