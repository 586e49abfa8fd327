package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The paths of WeChat's authorization pages, host-independent: the PC page
// (mp.weixin.qq.com, QR scan), the H5 page (open.weixin.qq.com) and the older
// H5 form on mp.weixin.qq.com.
const (
	pathLoginPage     = "/cgi-bin/componentloginpage"
	pathBindComponent = "/wxaopen/safe/bindcomponent"
	pathBindOld       = "/safe/bindcomponent"
)

func isAuthPagePath(p string) bool {
	return p == pathLoginPage || p == pathBindComponent || p == pathBindOld
}

// pageError is a validation failure shown to the merchant's admin: Chinese
// like WeChat's own pages, with English beside it.
type pageError struct{ Zh, En string }

func (e *pageError) Error() string { return e.En + " (" + e.Zh + ")" }

// authRequest is a validated authorization link.
type authRequest struct {
	comp        *component
	preAuthCode string
	redirectURI string
	authType    int // 1 official accounts, 2 mini programs, anything else both
	bizAppID    string
	query       url.Values
}

// parseAuthRequest validates the query of an authorization link the way
// WeChat's page does before showing anything: the component exists, the
// pre_auth_code is this component's and unexpired, redirect_uri is an
// absolute http(s) URL.
func (s *Sandbox) parseAuthRequest(q url.Values) (*authRequest, *pageError) {
	c := s.byID[q.Get("component_appid")]
	if c == nil {
		return nil, &pageError{"第三方平台 appid 无效，请联系该平台的开发者", "invalid component_appid: no such third-party platform"}
	}
	pre := q.Get("pre_auth_code")
	s.mu.Lock()
	v, found := s.st.ensureComponent(c.AppID).PreAuthCodes.get(pre)
	s.mu.Unlock()
	if pre == "" || !found {
		return nil, &pageError{"授权链接无效，请返回第三方平台重新发起授权", "invalid pre_auth_code: it was not issued to this platform"}
	}
	if !s.now().Before(v.issuedAt().Add(preAuthTTL)) {
		return nil, &pageError{"授权链接已过期，请返回第三方平台重新发起授权", "pre_auth_code expired (valid for 600 s)"}
	}
	redirect := q.Get("redirect_uri")
	u, err := url.Parse(redirect)
	if redirect == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &pageError{"回调地址（redirect_uri）无效，请联系该平台的开发者", "redirect_uri must be an absolute http(s) URL"}
	}
	if d := s.authDomain(c); d != "" && !sameDomain(u.Hostname(), d) {
		return nil, domainError("授权后回调页", "redirect_uri", u.Hostname(), d)
	}
	authType, _ := strconv.Atoi(q.Get("auth_type"))
	return &authRequest{comp: c, preAuthCode: pre, redirectURI: redirect, authType: authType,
		bizAppID: q.Get("biz_appid"), query: q}, nil
}

// checkReferer refuses an authorization page that was not opened from a page
// on the platform's 授权发起页域名, as WeChat does: from another domain, and
// without a Referer at all (typed in, opened from a chat or a tool, or from a
// page whose Referrer-Policy strips it), when WeChat's page names the entry
// page's domain as 空 (empty). An origin-only Referer, what browsers send
// across origins by default, names the host and is enough. The page's own
// form posting back to it passes. A component without a domain to compare
// (AuthDomain "*", or a platform on 0.0.0.0) is not checked. Tools go in
// through POST /sandbox/api/authorize instead.
func (s *Sandbox) checkReferer(r *http.Request, req *authRequest) *pageError {
	d := s.authDomain(req.comp)
	if d == "" {
		return nil
	}
	ref := r.Referer()
	if ref == "" {
		return domainError("授权入口页", "the page linking here", "空", d)
	}
	u, err := url.Parse(ref)
	if err != nil || u.Hostname() == "" {
		return domainError("授权入口页", "the page linking here", "空", d)
	}
	if u.Hostname() == hostOnly(r.Host) {
		return nil // the page's own form posting back to it
	}
	if !sameDomain(u.Hostname(), d) {
		return domainError("授权入口页", "the page linking here", u.Hostname(), d)
	}
	return nil
}

// domainError is WeChat's message for a page or redirect_uri outside the
// 授权发起页域名.
func domainError(zhWhat, enWhat, got, want string) *pageError {
	return &pageError{
		"请确认授权入口页所在域名，与授权后回调页所在域名相同，并且，此两者都必须与申请第三方平台时填写的授权发起页域名相同。" +
			zhWhat + "所在域名：" + got + "；授权发起页域名：" + want,
		enWhat + " is on " + got + ", not on the platform's authorization domain (授权发起页域名) " + want,
	}
}

// sameDomain compares host names as WeChat compares them with the registered
// domain: exactly, ignoring case. The loopback names count as one, so that a
// demo opened as localhost works with a platform configured as 127.0.0.1.
func sameDomain(host, domain string) bool {
	if strings.EqualFold(host, domain) {
		return true
	}
	return isLoopback(host) && isLoopback(domain)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// candidates lists the accounts the admin may pick. biz_appid restricts the
// choice to that one account and wins over auth_type; auth_type 1 shows
// official accounts only, 2 mini programs only, anything else both. WeChat's
// hidden 全网发布 test accounts are never offered, nor (unless biz_appid
// names one) the accounts made in bulk.
func (s *Sandbox) candidates(req *authRequest) ([]*account, *pageError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.bizAppID != "" {
		a := s.st.account(req.bizAppID)
		if a == nil || a.Hidden {
			return nil, &pageError{"指定授权的帐号（biz_appid）不存在", "biz_appid is not an account on this sandbox"}
		}
		return []*account{a}, nil
	}
	var out []*account
	for _, id := range s.st.order {
		if _, bulk := s.st.bulk[id]; bulk {
			continue
		}
		if a := s.st.account(id); offered(req, a, false) {
			out = append(out, a)
		}
	}
	return out, nil
}

// offered tells whether an authorization link without biz_appid offers a;
// withBulk counts the accounts made in bulk in, which pages do not list but
// which an admin of that account could still confirm.
func offered(req *authRequest, a *account, withBulk bool) bool {
	switch {
	case a.Hidden, a.Bulk && !withBulk:
		return false
	case req.authType == 1 && a.MiniProgram:
		return false
	case req.authType == 2 && !a.MiniProgram:
		return false
	}
	return true
}

// candidate returns the account appid if the link offers it, without
// listing every account.
func (s *Sandbox) candidate(req *authRequest, appid string) (*account, *pageError) {
	s.mu.Lock()
	a, biz := s.st.account(appid), s.st.account(req.bizAppID)
	s.mu.Unlock()
	if req.bizAppID != "" && (biz == nil || biz.Hidden) {
		return nil, &pageError{"指定授权的帐号（biz_appid）不存在", "biz_appid is not an account on this sandbox"}
	}
	if appid == "" {
		return nil, &pageError{"请选择要授权的帐号", "choose the account to authorize (appid)"}
	}
	ok := a != nil && offered(req, a, true)
	if req.bizAppID != "" {
		ok = appid == req.bizAppID
	}
	if !ok {
		return nil, &pageError{"该帐号不在本次可授权的帐号列表中", "appid " + appid + " is not offered by this authorization link"}
	}
	return a, nil
}

// confirm performs what the admin's click on 确认授权 does: authorize appid to
// the component with the chosen permission sets (nil = all offered), and
// return the redirect back to the platform and the authorized (or
// updateauthorized) push to send.
func (s *Sandbox) confirm(ctx context.Context, req *authRequest, appid string, funcs []int) (string, pushJob, *pageError) {
	a, perr := s.candidate(req, appid)
	if perr != nil {
		return "", pushJob{}, perr
	}
	offered := funcIDs(funcSetsFor(a.MiniProgram))
	if funcs == nil {
		funcs = offered
	}
	for _, id := range funcs {
		if !slices.Contains(offered, id) {
			return "", pushJob{}, &pageError{fmt.Sprintf("权限集 %d 不适用于该帐号", id),
				fmt.Sprintf("permission set %d is not offered to this kind of account", id)}
		}
	}
	if len(funcs) == 0 {
		return "", pushJob{}, &pageError{"请至少勾选一项权限", "tick at least one permission set (func)"}
	}
	s.mu.Lock()
	if !s.usePreAuthLocked(req.comp, req.preAuthCode, a.AppID) {
		s.mu.Unlock()
		return "", pushJob{}, &pageError{"预授权码已经被授权过，不能重复使用",
			"this pre_auth_code already authorized another account; the platform must make a new authorization link"}
	}
	infoType, code := s.authorizeLocked(req.comp, a.AppID, funcs)
	s.mu.Unlock()
	// The code reaches the platform twice (redirect, push): not before it is stored.
	s.waitDurable(ctx)
	return appendQuery(req.redirectURI, "auth_code="+code+"&expires_in=3600"),
		s.authEvent(req.comp, infoType, a.AppID, code, req.preAuthCode), nil
}

// authorizeLocked records an authorization: new refresh and access tokens
// (re-authorizing revokes the old refresh token) and a new authorization
// code. It returns the InfoType to push and the code. Callers hold s.mu.
func (s *Sandbox) authorizeLocked(c *component, appid string, funcs []int) (infoType, code string) {
	now := s.now()
	cs := s.st.ensureComponent(c.AppID)
	authz := cs.Authorizations[appid]
	infoType = "authorized"
	if authz == nil {
		authz = &authorization{AppID: appid, component: c.AppID}
		cs.Authorizations[appid] = authz
	} else if authz.Authorized {
		infoType = "updateauthorized"
	}
	funcs = slices.Clone(funcs)
	slices.Sort(funcs)
	cs.listed = nil // the listing order changes
	authz.Authorized = true
	authz.FuncInfo = s.st.internFuncs(slices.Compact(funcs))
	authz.AuthorizedAt = now
	authz.RevokedAt = time.Time{}
	authz.RefreshToken = "refreshtoken@@@" + randomToken(32)
	s.issueAccessTokenLocked(authz, now)
	return infoType, s.issueAuthCodeLocked(c, appid)
}

// appendQuery adds params to a URL's existing query, before any fragment,
// without re-encoding what the platform wrote.
func appendQuery(uri, params string) string {
	frag := ""
	if i := strings.IndexByte(uri, '#'); i >= 0 {
		uri, frag = uri[:i], uri[i:]
	}
	switch {
	case !strings.Contains(uri, "?"):
		uri += "?"
	case !strings.HasSuffix(uri, "?") && !strings.HasSuffix(uri, "&"):
		uri += "&"
	}
	return uri + params + frag
}

// handleAuthPage serves the three authorization pages: GET shows the account
// picker, POST is the admin's confirmation.
func (s *Sandbox) handleAuthPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			s.renderError(w, http.StatusBadRequest, &pageError{"请求格式错误", "malformed form"})
			return
		}
		q = r.Form
	}
	req, perr := s.parseAuthRequest(q)
	if perr == nil {
		perr = s.checkReferer(r, req)
	}
	if perr != nil {
		s.renderError(w, http.StatusBadRequest, perr)
		return
	}
	accounts, perr := s.candidates(req)
	if perr != nil {
		s.renderError(w, http.StatusBadRequest, perr)
		return
	}
	if r.Method != http.MethodPost {
		s.renderAuthPage(w, http.StatusOK, r, req, accounts, "", nil, nil)
		return
	}
	appid := r.PostForm.Get("appid")
	funcs := []int{}
	for _, v := range r.PostForm["func"] {
		id, err := strconv.Atoi(v)
		if err != nil {
			s.renderError(w, http.StatusBadRequest, &pageError{"权限集参数错误", "func must be numeric permission set ids"})
			return
		}
		funcs = append(funcs, id)
	}
	// A browser posts the ticked boxes of both groups; keep the ones that
	// apply to the chosen account's kind.
	if a := s.account(appid); a != nil {
		offered := funcIDs(funcSetsFor(a.MiniProgram))
		funcs = slices.DeleteFunc(funcs, func(id int) bool { return !slices.Contains(offered, id) })
	}
	redirect, job, perr := s.confirm(r.Context(), req, appid, funcs)
	if perr != nil {
		s.renderAuthPage(w, http.StatusBadRequest, r, req, accounts, appid, funcs, perr)
		return
	}
	s.pushAsync(job)
	http.Redirect(w, r, redirect, http.StatusFound)
}

// account returns the account with appid, or nil. Accounts never change after
// seeding, so callers may read the result without holding s.mu.
func (s *Sandbox) account(appid string) *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.account(appid)
}

// Views for the authorization page template.
type (
	authPageView struct {
		ComponentName  string
		ComponentAppID string
		Action         string
		Mobile         bool
		Hidden         []hiddenField
		Accounts       []accountChoice
		Groups         []funcGroup
		Error          *pageError
		QR             string
	}
	hiddenField   struct{ Name, Value string }
	accountChoice struct {
		AppID, Nickname, PrincipalName, Icon, Kind string
		Checked, Authorized                        bool
	}
	funcGroup struct {
		Label string
		Sets  []funcChoice
	}
	funcChoice struct {
		ID      int
		Name    string
		Checked bool
	}
)

func (s *Sandbox) renderAuthPage(w http.ResponseWriter, status int, r *http.Request, req *authRequest,
	accounts []*account, selected string, ticked []int, perr *pageError) {
	v := authPageView{
		ComponentName:  req.comp.Name,
		ComponentAppID: req.comp.AppID,
		Action:         r.URL.Path,
		Mobile:         r.URL.Path != pathLoginPage,
		Error:          perr,
		QR:             qrcodeURL("", req.comp.AppID),
	}
	keys := make([]string, 0, len(req.query))
	for k := range req.query {
		if k != "appid" && k != "func" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.Hidden = append(v.Hidden, hiddenField{k, req.query.Get(k)})
	}
	if selected == "" && len(accounts) == 1 {
		selected = accounts[0].AppID
	}
	s.mu.Lock()
	cs := s.st.ensureComponent(req.comp.AppID)
	var hasMini, hasOfficial bool
	for _, a := range accounts {
		kind := "公众号"
		if a.MiniProgram {
			kind = "小程序"
			hasMini = true
		} else {
			hasOfficial = true
		}
		authz := cs.Authorizations[a.AppID]
		v.Accounts = append(v.Accounts, accountChoice{AppID: a.AppID, Nickname: a.Nickname, PrincipalName: a.PrincipalName,
			Icon: iconURL("", a.AppID), Kind: kind, Checked: a.AppID == selected, Authorized: authz != nil && authz.Authorized})
	}
	s.mu.Unlock()
	group := func(label string, mini bool) funcGroup {
		g := funcGroup{Label: label}
		for _, f := range funcSetsFor(mini) {
			g.Sets = append(g.Sets, funcChoice{f.ID, f.Name, ticked == nil || slices.Contains(ticked, f.ID)})
		}
		return g
	}
	if hasMini {
		v.Groups = append(v.Groups, group("小程序权限集 · mini program permissions", true))
	}
	if hasOfficial {
		v.Groups = append(v.Groups, group("公众号权限集 · official account permissions", false))
	}
	s.render(w, status, "authorize.html", v)
}

// renderError shows WeChat-like error text with English beside it.
func (s *Sandbox) renderError(w http.ResponseWriter, status int, perr *pageError) {
	s.render(w, status, "error.html", perr)
}
