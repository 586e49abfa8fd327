package sandbox

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// What a platform registers about itself that its authorizers' settings
// must stay within (docs/wechat-code.md "Settings a release depends on"):
// its 小程序服务器域名 (modify_wxa_server_domain), of which an app's server
// domains are a subset (85018 otherwise), and its 小程序业务域名
// (modify_wxa_jump_domain), which an app's web-view domains must be or be
// under (89020 none registered, 89021 outside them). Also the WeChat users
// the sandbox knows, so that bind_tester can answer 85001 for a WeChat id
// that does not exist, and WeChat's suspension of an app's submissions
// (86007).

// platformDomains are one platform's registered domains: bare host names.
type platformDomains struct {
	Server []string `json:"server,omitempty"`
	Jump   []string `json:"jump,omitempty"`
}

// platformDomainsOf returns a component's registered domains; never nil.
func (cs *codeState) platformDomainsOf(component string) *platformDomains {
	if cs.meta.Platforms == nil {
		cs.meta.Platforms = map[string]*platformDomains{}
	}
	p := cs.meta.Platforms[component]
	if p == nil {
		p = &platformDomains{}
		cs.meta.Platforms[component] = p
	}
	return p
}

// splitDomains reads WeChat's ";"-separated domain string.
func splitDomains(s string) []string {
	var out []string
	for _, d := range strings.Split(s, ";") {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// validHost tells whether d is a bare host name as the platform lists take
// them: no scheme, path or port.
func validHost(d string) bool {
	if d == "" || strings.ContainsAny(d, "/:?#@ ") || !strings.Contains(d, ".") {
		return false
	}
	return true
}

// modifyPlatformList applies action to list with given; 85022 for another
// action. The second result lists the invalid values (not changed).
func modifyPlatformList(list []string, action string, given []string) ([]string, []string, int) {
	var ok, bad []string
	for _, d := range given {
		if validHost(d) {
			ok = append(ok, d)
		} else {
			bad = append(bad, d)
		}
	}
	switch action {
	case "get":
		return list, bad, 0
	case "set":
		return dedupe(ok), bad, 0
	case "add":
		return dedupe(append(slices.Clone(list), ok...)), bad, 0
	case "delete":
		return slices.DeleteFunc(slices.Clone(list), func(v string) bool { return slices.Contains(ok, v) }), bad, 0
	}
	return nil, nil, 85022
}

// POST /cgi-bin/component/modify_wxa_server_domain?component_access_token=
// {action add|delete|set|get, wxa_server_domain "a.com;b.com",
// is_modify_published_together} → {published_wxa_server_domain,
// testing_wxa_server_domain, invalid_wxa_server_domain}. The sandbox keeps
// one list (published and testing alike).
func (s *Sandbox) apiModifyServerDomain(r *http.Request, body []byte) (any, int) {
	return s.modifyPlatformDomains(r, body, "wxa_server_domain", func(p *platformDomains) *[]string { return &p.Server })
}

// POST /cgi-bin/component/modify_wxa_jump_domain?component_access_token=
// {action, wxa_jump_h5_domain "a.com;b.com"} → {published_wxa_jump_h5_domain,
// testing_wxa_jump_h5_domain, invalid_wxa_jump_h5_domain}: the platform's
// 业务域名.
func (s *Sandbox) apiModifyJumpDomain(r *http.Request, body []byte) (any, int) {
	return s.modifyPlatformDomains(r, body, "wxa_jump_h5_domain", func(p *platformDomains) *[]string { return &p.Jump })
}

func (s *Sandbox) modifyPlatformDomains(r *http.Request, body []byte, field string, list func(*platformDomains) *[]string) (any, int) {
	c, code := s.codeComponent(r)
	if code != 0 {
		return nil, code
	}
	var req map[string]any
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	action, _ := req["action"].(string)
	domains, isString := req[field].(string)
	if _, present := req[field]; present && !isString {
		return nil, 47001
	}
	if action != "get" && action != "" && !present(req, field) {
		return nil, 47001
	}
	if action == "" {
		action = "get"
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p := cs.platformDomainsOf(c.AppID)
	next, bad, code := modifyPlatformList(*list(p), action, splitDomains(domains))
	if code != 0 {
		return nil, code
	}
	if action != "get" {
		*list(p) = next
		cs.touchMeta()
		if code := cs.flush(); code != 0 {
			return nil, code
		}
	}
	joined := strings.Join(*list(p), ";")
	name := strings.TrimPrefix(field, "wxa_")
	return map[string]any{"errcode": 0, "errmsg": "ok", "published_wxa_" + name: joined, "testing_wxa_" + name: joined,
		"invalid_wxa_" + name: strings.Join(bad, ";")}, 0
}

func present(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// domainSchemes are the schemes modify_domain takes, list by list.
var domainSchemes = []string{"https", "wss", "https", "https", "udp", "tcp"}

// checkServerDomains answers 85018 when a domain of d is not one of the
// platform's server domains (or has the wrong scheme for its list: such a
// value is no domain of the platform either).
func checkServerDomains(p *platformDomains, d codeDomains) int {
	for i, l := range d.lists() {
		for _, v := range *l {
			u, err := url.Parse(v)
			if err != nil || u.Scheme != domainSchemes[i] || u.Hostname() == "" || u.Path != "" && u.Path != "/" ||
				!slices.Contains(p.Server, strings.ToLower(u.Hostname())) {
				return 85018
			}
		}
	}
	return 0
}

// checkWebviewDomains answers 89020 when the platform registered no
// business domain and 89021 for a domain neither one of them nor under one.
func checkWebviewDomains(p *platformDomains, domains []string) int {
	if len(domains) == 0 {
		return 0
	}
	if len(p.Jump) == 0 {
		return 89020
	}
	for _, v := range domains {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return 89021
		}
		h := strings.ToLower(u.Hostname())
		if !slices.ContainsFunc(p.Jump, func(j string) bool { return h == j || strings.HasSuffix(h, "."+j) }) {
			return 89021
		}
	}
	return 0
}

// defaultWeChatUsers are the WeChat ids (微信号) the sandbox knows from the
// start; POST /sandbox/api/wechat-users adds more.
var defaultWeChatUsers = []string{"tester_li", "tester_wang", "tester_zhang", "tester_zhao", "tester_chen"}

// weChatUserExists tells whether id is a WeChat user the sandbox knows.
func (cs *codeState) weChatUserExists(id string) bool {
	return slices.Contains(defaultWeChatUsers, id) || slices.Contains(cs.meta.Users, id)
}

// validWeChatID is WeChat's rule for a 微信号: 6 to 20 letters, digits, "_"
// or "-", beginning with a letter.
func validWeChatID(id string) bool {
	if len(id) < 6 || len(id) > 20 {
		return false
	}
	for i, r := range id {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if i == 0 && !letter || !letter && !(r >= '0' && r <= '9') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// POST /sandbox/api/wechat-users {"wechatids":[...]} → {"wechatids":[every known one]}
func (s *Sandbox) handleAddWeChatUsers(w http.ResponseWriter, r *http.Request) {
	var req struct {
		WeChatIDs []string `json:"wechatids"`
	}
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	for _, id := range req.WeChatIDs {
		if !validWeChatID(id) {
			writeControlError(w, http.StatusBadRequest, errors.New("微信号须为 6–20 位字母、数字、下划线或减号，以字母开头 / a WeChat id is 6–20 letters, digits, _ or -, beginning with a letter: "+id))
			return
		}
	}
	cs := s.code
	cs.mu.Lock()
	for _, id := range req.WeChatIDs {
		if !cs.weChatUserExists(id) {
			cs.meta.Users = append(cs.meta.Users, id)
		}
	}
	out := append(slices.Clone(defaultWeChatUsers), cs.meta.Users...)
	cs.touchMeta()
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"wechatids": out})
}

// POST /sandbox/api/apps/{appid}/suspend {"suspended":bool} → {"appid","suspended"}:
// WeChat suspends (or lifts the suspension of) the app's submissions:
// submit_audit answers 86007 meanwhile.
func (s *Sandbox) handleSuspendApp(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Suspended *bool `json:"suspended"`
	}
	if err := readControl(r, &req); err != nil || req.Suspended == nil {
		writeControlError(w, http.StatusBadRequest, errors.New(`须有 {"suspended": true|false} / {"suspended": true|false} is required`))
		return
	}
	appID := r.PathValue("appid")
	s.mu.Lock()
	known := s.st.account(appID) != nil
	s.mu.Unlock()
	if !known {
		writeControlError(w, http.StatusNotFound, errors.New("没有这个小程序 / no such mini program: "+appID))
		return
	}
	cs := s.code
	cs.mu.Lock()
	a := cs.app(appID)
	a.Suspended = *req.Suspended
	cs.touchApp(a)
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"appid": appID, "suspended": *req.Suspended})
}

// POST /sandbox/api/components/{appid}/domains {"server":["a.com"],"jump":["b.com"]}
// → the same: sets a platform's registered server and business domains, as
// its developer does once in the Open Platform console (each list given
// replaces that list).
func (s *Sandbox) handleSetPlatformDomains(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Server *[]string `json:"server"`
		Jump   *[]string `json:"jump"`
	}
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	comp := r.PathValue("appid")
	_, known := s.byID[comp] // set once at New
	if !known {
		writeControlError(w, http.StatusNotFound, errors.New("没有这个第三方平台 / no such component: "+comp))
		return
	}
	for _, l := range []*[]string{req.Server, req.Jump} {
		if l == nil {
			continue
		}
		for _, d := range *l {
			if !validHost(d) {
				writeControlError(w, http.StatusBadRequest, errors.New("域名须是主机名，如 api.example.com / a domain is a host name such as api.example.com: "+d))
				return
			}
		}
	}
	cs := s.code
	cs.mu.Lock()
	p := cs.platformDomainsOf(comp)
	if req.Server != nil {
		p.Server = dedupe(*req.Server)
	}
	if req.Jump != nil {
		p.Jump = dedupe(*req.Jump)
	}
	out := map[string]any{"server": nonNilList(p.Server), "jump": nonNilList(p.Jump)}
	cs.touchMeta()
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
