package sandbox

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// apiFunc is one emulated WeChat API: it returns the success body or an
// errcode. It locks s.mu itself; the wrapper writes the answer after the lock
// is released.
type apiFunc func(r *http.Request, body []byte) (resp any, errcode int)

// api wraps an apiFunc with what every WeChat API call gets: a bounded body,
// injected faults (before any validation), the caller's daily quota, the
// component's IP whitelist, WeChat's error shape and a call count by path,
// errcode and the authorizer the call is about.
func (s *Sandbox) api(path string, h apiFunc) http.HandlerFunc {
	return s.apiLimit(path, 1<<20, 47001, h)
}

// apiLimit is api with another body bound: a body over limit bytes is
// answered tooLarge (media/upload takes files far above 1 MiB, and answers
// an oversized one with its own errcode).
func (s *Sandbox) apiLimit(path string, limit int64, tooLarge int, h apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			s.count(path, "", tooLarge)
			s.writeWxError(w, r, tooLarge)
			return
		}
		app := s.callSubject(r, body)
		s.mu.Lock()
		s.inFlight[path]++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight[path]--
			s.mu.Unlock()
		}()
		gen := s.dirtyGen.Load()
		resp, code, stop, lose := s.serveAPI(r, path, body, app, h)
		if stop {
			return // the caller left during an injected latency
		}
		// What the answer tells the platform (a rotated refresh token, a
		// code) must survive a crash of the sandbox: wait for its commit.
		if g := s.dirtyGen.Load(); g > gen {
			s.waitFlushed(r.Context(), g)
		}
		s.count(path, app, code)
		if lose {
			loseAnswer(w)
			return
		}
		if code != 0 {
			s.writeWxError(w, r, code)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// loseAnswer closes the connection without a response.
func loseAnswer(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream
}

// serveAPI runs the checks before h, then h. lose reports a lose_answer fault.
func (s *Sandbox) serveAPI(r *http.Request, path string, body []byte, app string, h apiFunc) (resp any, code int, stop, lose bool) {
	code, stop, lose = s.applyFault(r, path, app)
	if stop || code != 0 {
		return nil, code, stop, false
	}
	if code := s.checkToken(r, path); code != 0 {
		return nil, code, false, false // tokens.go: before the body, the whitelist and the quota
	}
	s.mu.Lock()
	allowed := s.whitelistAllows(r, body)
	within := true
	if allowed {
		within = s.quotaTake(s.quotaAccount(r, body), path)
	}
	s.mu.Unlock()
	if !allowed {
		return nil, 61004, false, false
	}
	if !within {
		return nil, 45009, false, false
	}
	resp, code = h(r, body)
	return resp, code, false, lose
}

// apiNotEmulated answers any other path under /cgi-bin/, /wxa/ and /sns/. The
// token is checked first, as on every WeChat API (tokens.go): a call that
// WeChat would refuse for its token is refused here the same way. WeChat has
// hundreds of APIs; rather than pretend, the sandbox says plainly which one
// it lacks to a call with a valid token: HTTP 404 with errcode -1 "system
// error: api not emulated by the wxfleet sandbox: <path>". This is a
// sandbox choice, not WeChat behaviour. A known API called with the wrong
// method gets WeChat's 43002 instead.
func (s *Sandbox) apiNotEmulated(known map[string]bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		app := s.callSubject(r, nil)
		code, stop, _ := s.applyFault(r, path, app)
		if stop {
			return
		}
		if code == 0 {
			code = s.checkToken(r, path)
		}
		if code == 0 && known[path] {
			code = 43002
		}
		if code != 0 {
			s.count(path, app, code)
			s.writeWxError(w, r, code)
			return
		}
		s.count(path, app, -1)
		// No rid here: this answer comes from the sandbox, not from WeChat.
		writeJSON(w, http.StatusNotFound, wxError{Errcode: -1, Errmsg: "system error: api not emulated by the wxfleet sandbox: " + path})
	}
}

// decode parses a JSON request body: empty → 44002, malformed → 47001.
func decode(body []byte, v any) int {
	if len(bytes.TrimSpace(body)) == 0 {
		return 44002
	}
	if err := json.Unmarshal(body, v); err != nil {
		return 47001
	}
	return 0
}

// looksLikeAppID tells whether v has the shape of a WeChat appid: "wx" and 16
// lowercase hex digits.
func looksLikeAppID(v string) bool {
	if len(v) != 18 || !strings.HasPrefix(v, "wx") {
		return false
	}
	for _, r := range v[2:] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// lookupComponent resolves a component_appid: a missing one gets 41018,
// unknown but well-formed appids 61011 (invalid component), malformed ones
// 40013 (invalid appid).
func (s *Sandbox) lookupComponent(appid string) (*component, int) {
	if appid == "" {
		return nil, 41018
	}
	if c := s.byID[appid]; c != nil {
		return c, 0
	}
	if looksLikeAppID(appid) {
		return nil, 61011
	}
	return nil, 40013
}

// checkSecret compares a component secret: missing → 41004, wrong → 40125.
func checkSecret(c *component, secret string) int {
	if secret == "" {
		return 41004
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return 40125
	}
	return 0
}

// componentByToken resolves the component_access_token of a request. WeChat's
// classic docs put it in ?component_access_token=, the newer ones in
// ?access_token=; both are accepted. Callers hold s.mu.
func (s *Sandbox) componentByToken(r *http.Request) (*component, *componentState, int) {
	q := r.URL.Query()
	tok := q.Get("component_access_token")
	if tok == "" {
		tok = q.Get("access_token")
	}
	if tok == "" {
		return nil, nil, 41001
	}
	now := s.now()
	for _, c := range s.comps {
		cs := s.st.ensureComponent(c.AppID)
		for _, t := range slices.Backward(cs.Tokens) {
			if t.Value == tok {
				if code := credentialError(t, now); code != 0 {
					return nil, nil, code
				}
				return c, cs, 0
			}
		}
	}
	return nil, nil, 40001
}

// callingComponent names the component a call is made for: the body's
// component_appid, else the component whose token is in the query; "" when
// neither says. Callers hold s.mu.
func (s *Sandbox) callingComponent(r *http.Request, body []byte) string {
	var named struct {
		ComponentAppID string `json:"component_appid"`
	}
	if json.Unmarshal(body, &named) == nil && named.ComponentAppID != "" {
		return named.ComponentAppID
	}
	if c, _, code := s.componentByToken(r); code == 0 {
		return c.AppID
	}
	return ""
}

// componentCall runs the checks every component-token API starts with: the
// token names a component, the body decodes into req, and the body names
// that component in component_appid (decoded into *named; 41018 when
// missing: WeChat reads the body, never the query, for it). The caller holds
// s.mu.
func (s *Sandbox) componentCall(r *http.Request, body []byte, req any, named *string) (*component, *componentState, int) {
	c, cs, code := s.componentByToken(r)
	if code != 0 {
		return nil, nil, code
	}
	if code := decode(body, req); code != 0 {
		return nil, nil, code
	}
	if code := checkBodyComponent(c, *named); code != 0 {
		return nil, nil, code
	}
	return c, cs, 0
}

// componentBySecret authenticates the APIs that take the component's secret
// instead of a token. Required fields come first: no component_appid → 41018,
// no secret → 41004; then the appid and the secret are checked. secrets are
// the field names an API accepts; the first non-empty one counts.
func (s *Sandbox) componentBySecret(appid string, secrets ...string) (*component, int) {
	secret := ""
	for _, v := range secrets {
		if v != "" {
			secret = v
			break
		}
	}
	switch {
	case appid == "":
		return nil, 41018
	case secret == "":
		return nil, 41004
	}
	c, code := s.lookupComponent(appid)
	if code != 0 {
		return nil, code
	}
	if code := checkSecret(c, secret); code != 0 {
		return nil, code
	}
	return c, 0
}

// checkBodyComponent rejects a body without component_appid (41018) or
// naming another component than the token's (61011).
func checkBodyComponent(c *component, appid string) int {
	switch {
	case appid == "":
		return 41018
	case appid != c.AppID:
		return 61011
	}
	return 0
}

// POST /cgi-bin/component/api_component_token
func (s *Sandbox) apiComponentToken(r *http.Request, body []byte) (any, int) {
	var req struct {
		ComponentAppID     string `json:"component_appid"`
		ComponentAppSecret string `json:"component_appsecret"` // only this name: component_secret is api_start_push_ticket's
		Ticket             string `json:"component_verify_ticket"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	c, code := s.componentBySecret(req.ComponentAppID, req.ComponentAppSecret)
	if code != 0 {
		return nil, code
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.st.ensureComponent(c.AppID)
	i := slices.IndexFunc(cs.Tickets, func(t issued) bool { return t.Value == req.Ticket })
	if req.Ticket == "" || i < 0 {
		return nil, 61006
	}
	if !now.Before(cs.Tickets[i].IssuedAt.Add(ticketTTL)) {
		return nil, 61005
	}
	tok := s.issueComponentTokenLocked(c, now)
	return struct {
		Token     string `json:"component_access_token"`
		ExpiresIn int    `json:"expires_in"`
	}{tok, seconds(tokenTTL)}, 0
}

// POST /cgi-bin/component/api_start_push_ticket
func (s *Sandbox) apiStartPushTicket(r *http.Request, body []byte) (any, int) {
	var req struct {
		ComponentAppID     string `json:"component_appid"`
		ComponentSecret    string `json:"component_secret"`
		ComponentAppSecret string `json:"component_appsecret"` // variant seen in some SDKs
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	c, code := s.componentBySecret(req.ComponentAppID, req.ComponentAppSecret, req.ComponentSecret)
	if code != 0 {
		return nil, code
	}
	// WeChat answers at once and pushes shortly after.
	s.goBackground(func(ctx context.Context) { s.pushTicket(ctx, c) })
	return wxError{Errcode: 0, Errmsg: "ok"}, 0
}

// POST /cgi-bin/component/api_create_preauthcode
func (s *Sandbox) apiCreatePreAuthCode(r *http.Request, body []byte) (any, int) {
	var req struct {
		ComponentAppID string `json:"component_appid"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, code := s.componentCall(r, body, &req, &req.ComponentAppID)
	if code != 0 {
		return nil, code
	}
	pre := s.issuePreAuthLocked(c, s.now())
	return struct {
		PreAuthCode string `json:"pre_auth_code"`
		ExpiresIn   int    `json:"expires_in"`
	}{pre, seconds(preAuthTTL)}, 0
}

// funcInfo is one entry of func_info.
type funcInfo struct {
	Category struct {
		ID int `json:"id"`
	} `json:"funcscope_category"`
}

func funcInfoList(ids []int) []funcInfo {
	out := make([]funcInfo, len(ids))
	for i, id := range ids {
		out[i].Category.ID = id
	}
	return out
}

// POST /cgi-bin/component/api_query_auth
func (s *Sandbox) apiQueryAuth(r *http.Request, body []byte) (any, int) {
	var req struct {
		ComponentAppID    string `json:"component_appid"`
		AuthorizationCode string `json:"authorization_code"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, cs, code := s.componentCall(r, body, &req, &req.ComponentAppID)
	if code != 0 {
		return nil, code
	}
	now := s.now()
	ac, ok := cs.AuthCodes.get(req.AuthorizationCode)
	if req.AuthorizationCode == "" || !ok {
		return nil, 61009
	}
	if !now.Before(ac.issuedAt().Add(authCodeTTL)) {
		return nil, 61010
	}
	authz := cs.Authorizations[ac.AppID]
	if authz == nil || !authz.Authorized {
		return nil, 61003 // revoked since the code was issued
	}
	// The code is not single-use and the platform typically exchanges it twice
	// (push and redirect) at the same time: both get the current token rather
	// than racing each other with fresh ones.
	tok := s.currentAccessToken(authz, now)
	type authorizationInfo struct {
		AppID        string     `json:"authorizer_appid"`
		AccessToken  string     `json:"authorizer_access_token"`
		ExpiresIn    int        `json:"expires_in"`
		RefreshToken string     `json:"authorizer_refresh_token"`
		FuncInfo     []funcInfo `json:"func_info"`
	}
	return struct {
		Info authorizationInfo `json:"authorization_info"`
	}{authorizationInfo{authz.AppID, tok.Value, seconds(tok.IssuedAt.Add(tokenTTL).Sub(now)), authz.RefreshToken, funcInfoList(authz.FuncInfo)}}, 0
}

// currentAccessToken returns the newest usable access token of an
// authorization, issuing one if there is none. Callers hold s.mu.
func (s *Sandbox) currentAccessToken(authz *authorization, now time.Time) credential {
	if n := len(authz.AccessTokens); n > 0 {
		last := authz.AccessTokens[n-1]
		if credentialError(last, now) == 0 && last.SupersededAt.IsZero() {
			return last
		}
	}
	return s.issueAccessTokenLocked(authz, now)
}

// POST /cgi-bin/component/api_authorizer_token
func (s *Sandbox) apiAuthorizerToken(r *http.Request, body []byte) (any, int) {
	var req struct {
		ComponentAppID  string `json:"component_appid"`
		AuthorizerAppID string `json:"authorizer_appid"`
		RefreshToken    string `json:"authorizer_refresh_token"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, cs, code := s.componentCall(r, body, &req, &req.ComponentAppID)
	if code != 0 {
		return nil, code
	}
	authz := cs.Authorizations[req.AuthorizerAppID]
	if authz == nil || !authz.Authorized {
		return nil, 61003
	}
	if req.RefreshToken == "" || subtle.ConstantTimeCompare([]byte(req.RefreshToken), []byte(authz.RefreshToken)) != 1 {
		return nil, 61023
	}
	// Refresh tokens rotate: the one just used is revoked at once, so a
	// platform that loses the answer (or refreshes twice concurrently) has to
	// cope with 61023. The previous access token keeps its 5-minute grace.
	tok := s.issueAccessTokenLocked(authz, s.now()).Value
	authz.RefreshToken = "refreshtoken@@@" + randomToken(32)
	return struct {
		AccessToken  string `json:"authorizer_access_token"`
		ExpiresIn    int    `json:"expires_in"`
		RefreshToken string `json:"authorizer_refresh_token"`
	}{tok, seconds(tokenTTL), authz.RefreshToken}, 0
}

// POST /cgi-bin/component/api_get_authorizer_info
func (s *Sandbox) apiGetAuthorizerInfo(r *http.Request, body []byte) (any, int) {
	var req struct {
		ComponentAppID  string `json:"component_appid"`
		AuthorizerAppID string `json:"authorizer_appid"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, cs, code := s.componentCall(r, body, &req, &req.ComponentAppID)
	if code != 0 {
		return nil, code
	}
	authz := cs.Authorizations[req.AuthorizerAppID]
	a := s.st.account(req.AuthorizerAppID)
	if authz == nil || !authz.Authorized || a == nil {
		return nil, 61003
	}
	return authorizerInfoBody(a, authz, s.publicURL(r)), 0
}

// authorizerInfoBody is the §3.5 response: MiniProgramInfo only for mini
// programs (SDKs use its presence to tell the two kinds apart), and an
// authorization_info without access token.
func authorizerInfoBody(a *account, authz *authorization, base string) any {
	type idOnly struct {
		ID int `json:"id"`
	}
	type network struct {
		RequestDomain   []string `json:"RequestDomain"`
		WsRequestDomain []string `json:"WsRequestDomain"`
		UploadDomain    []string `json:"UploadDomain"`
		DownloadDomain  []string `json:"DownloadDomain"`
		BizDomain       []string `json:"BizDomain"`
		UDPDomain       []string `json:"UDPDomain"`
	}
	type miniProgramInfo struct {
		Network     network    `json:"network"`
		Categories  []category `json:"categories"`
		VisitStatus int        `json:"visit_status"`
	}
	type authorizerInfo struct {
		NickName        string           `json:"nick_name"`
		HeadImg         string           `json:"head_img"`
		ServiceTypeInfo idOnly           `json:"service_type_info"`
		VerifyTypeInfo  idOnly           `json:"verify_type_info"`
		UserName        string           `json:"user_name"`
		Alias           string           `json:"alias"`
		QrcodeURL       string           `json:"qrcode_url"`
		BusinessInfo    map[string]int   `json:"business_info"`
		PrincipalName   string           `json:"principal_name"`
		Signature       string           `json:"signature"`
		AccountStatus   int              `json:"account_status"`
		RegisterType    int              `json:"register_type"`
		BasicConfig     map[string]bool  `json:"basic_config"`
		MiniProgramInfo *miniProgramInfo `json:"MiniProgramInfo,omitempty"`
	}
	type authorizationInfo struct {
		AppID        string     `json:"authorizer_appid"`
		RefreshToken string     `json:"authorizer_refresh_token"`
		FuncInfo     []funcInfo `json:"func_info"`
	}
	info := authorizerInfo{
		NickName:        a.Nickname,
		HeadImg:         iconURL(base, a.AppID),
		ServiceTypeInfo: idOnly{a.ServiceType},
		VerifyTypeInfo:  idOnly{a.VerifyType},
		UserName:        a.UserName,
		Alias:           a.Alias,
		QrcodeURL:       qrcodeURL(base, a.AppID),
		BusinessInfo:    map[string]int{"open_pay": 0, "open_shake": 0, "open_scan": 0, "open_card": 0, "open_store": 0},
		PrincipalName:   a.PrincipalName,
		Signature:       a.Signature,
		AccountStatus:   1,
		BasicConfig:     map[string]bool{"is_phone_configured": true, "is_email_configured": true},
	}
	if a.MiniProgram {
		info.BusinessInfo["open_pay"] = 1
		info.MiniProgramInfo = &miniProgramInfo{
			Network: network{RequestDomain: []string{}, WsRequestDomain: []string{}, UploadDomain: []string{},
				DownloadDomain: []string{}, BizDomain: []string{}, UDPDomain: []string{}},
			Categories: a.Categories,
		}
	}
	return struct {
		Info  authorizerInfo    `json:"authorizer_info"`
		Authz authorizationInfo `json:"authorization_info"`
	}{info, authorizationInfo{a.AppID, authz.RefreshToken, funcInfoList(authz.FuncInfo)}}
}

// POST /cgi-bin/component/api_get_authorizer_list
func (s *Sandbox) apiGetAuthorizerList(r *http.Request, body []byte) (any, int) {
	var req struct {
		ComponentAppID string `json:"component_appid"`
		Offset         int    `json:"offset"`
		Count          int    `json:"count"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, cs, code := s.componentCall(r, body, &req, &req.ComponentAppID)
	if code != 0 {
		return nil, code
	}
	if req.Count > 500 {
		return nil, 40170
	}
	type item struct {
		AppID        string `json:"authorizer_appid"`
		RefreshToken string `json:"refresh_token"`
		AuthTime     int64  `json:"auth_time"`
	}
	all := cs.authorizedList() // cached: a fleet of 100,000 is listed 500 at a time
	page := []item{}
	if req.Offset >= 0 && req.Offset < len(all) && req.Count > 0 {
		for _, authz := range all[req.Offset:min(len(all), req.Offset+req.Count)] {
			page = append(page, item{authz.AppID, authz.RefreshToken, authz.AuthorizedAt.Unix()})
		}
	}
	return struct {
		TotalCount int    `json:"total_count"`
		List       []item `json:"list"`
	}{len(all), page}, 0
}
