package sandbox

import (
	"net/http"
	"slices"
	"strings"
)

// Every path under /cgi-bin/, /wxa/ and /sns/ checks its token before
// anything else but injected faults, as WeChat does: missing 41001, unknown
// 40001, expired 42001, and a token of the wrong kind 61014 (an authorizer's
// token on a component API: "must use component token for component api")
// or 61015 (the component's token on an authorizer's API: "must use biz
// account token for not component api"). Sources: WeChat's global errcode
// table and WxJava's WxOpenErrorMsgEnum (docs/wechat-sandbox.md, "Tokens").

// tokenKind is the token an API takes.
type tokenKind int

const (
	tokenNone       tokenKind = iota // takes a secret in the body, no token
	tokenComponent                   // component_access_token, as ?component_access_token= or ?access_token=
	tokenAuthorizer                  // authorizer_access_token, as ?access_token= only
	tokenEither                      // either of them, as ?access_token= (or ?component_access_token= for the component's)
)

// apiTokens names the token of every emulated API. A test checks that every
// emulated path is listed, so that a new API cannot skip the check.
var apiTokens = map[string]tokenKind{
	"/cgi-bin/component/api_component_token":       tokenNone,
	"/cgi-bin/component/api_start_push_ticket":     tokenNone,
	"/cgi-bin/component/clear_quota/v2":            tokenNone,
	"/cgi-bin/component/api_create_preauthcode":    tokenComponent,
	"/cgi-bin/component/api_query_auth":            tokenComponent,
	"/cgi-bin/component/api_authorizer_token":      tokenComponent,
	"/cgi-bin/component/api_get_authorizer_info":   tokenComponent,
	"/cgi-bin/component/api_get_authorizer_list":   tokenComponent,
	"/cgi-bin/component/api_get_authorizer_option": tokenComponent,
	"/cgi-bin/component/api_set_authorizer_option": tokenComponent,
	"/cgi-bin/component/clear_quota":               tokenComponent,
	"/cgi-bin/component/get_authorizer_option":     tokenAuthorizer,
	"/cgi-bin/component/set_authorizer_option":     tokenAuthorizer,
	"/cgi-bin/message/custom/send":                 tokenAuthorizer,
	"/cgi-bin/clear_quota":                         tokenAuthorizer,
	"/cgi-bin/openapi/quota/get":                   tokenEither,
	pathJSCode2Session:                             tokenComponent, // login.go

	"/wxa/gettemplatedraftlist": tokenComponent,
	"/wxa/gettemplatelist":      tokenComponent,
	"/wxa/addtotemplate":        tokenComponent,
	"/wxa/deletetemplate":       tokenComponent,
	"/wxa/speedupaudit":         tokenEither, // WeChat's reference takes either

	"/wxa/commit":                          tokenAuthorizer,
	"/wxa/get_page":                        tokenAuthorizer,
	"/wxa/get_qrcode":                      tokenAuthorizer,
	"/wxa/get_category":                    tokenAuthorizer,
	"/wxa/submit_audit":                    tokenAuthorizer,
	"/wxa/get_auditstatus":                 tokenAuthorizer,
	"/wxa/get_latest_auditstatus":          tokenAuthorizer,
	"/wxa/undocodeaudit":                   tokenAuthorizer,
	"/wxa/queryquota":                      tokenAuthorizer,
	"/wxa/release":                         tokenAuthorizer,
	"/wxa/revertcoderelease":               tokenAuthorizer,
	"/wxa/grayrelease":                     tokenAuthorizer,
	"/wxa/revertgrayrelease":               tokenAuthorizer,
	"/wxa/getgrayreleaseplan":              tokenAuthorizer,
	"/wxa/change_visitstatus":              tokenAuthorizer,
	"/wxa/getversioninfo":                  tokenAuthorizer,
	"/wxa/modify_domain":                   tokenAuthorizer,
	"/wxa/setwebviewdomain":                tokenAuthorizer,
	"/wxa/bind_tester":                     tokenAuthorizer,
	"/wxa/unbind_tester":                   tokenAuthorizer,
	"/wxa/memberauth":                      tokenAuthorizer,
	"/cgi-bin/component/setprivacysetting": tokenAuthorizer, // despite the path (WxJava, SKIT)
	"/cgi-bin/component/getprivacysetting": tokenAuthorizer,
}

// tokenlessPaths are the WeChat APIs the sandbox does not emulate that take
// an appid and a secret (or a user's OAuth code) instead of a token: they go
// straight to the "not emulated" answer.
var tokenlessPaths = []string{
	"/cgi-bin/token",
	"/cgi-bin/stable_token",
	"/cgi-bin/clear_quota/v2",
	"/sns/jscode2session",
	"/sns/oauth2/access_token",
	"/sns/oauth2/refresh_token",
}

// tokenOf returns the API's token kind: the emulated APIs' from apiTokens;
// any other path takes either kind, because the sandbox cannot know which
// one an API it does not emulate wants, unless it takes none.
func tokenOf(path string) tokenKind {
	if k, ok := apiTokens[path]; ok {
		return k
	}
	if slices.Contains(tokenlessPaths, path) {
		return tokenNone
	}
	return tokenEither
}

// checkToken answers the token check of a call to path: 0 when its token is
// of the kind the API takes and usable now. ?access_token= carries either
// token; ?component_access_token= only the component's, as WeChat's
// component APIs name it, so an authorizer API with only that parameter has
// no token (41001).
func (s *Sandbox) checkToken(r *http.Request, path string) int {
	kind := tokenOf(path)
	if kind == tokenNone || !isWeChatAPIPath(path) {
		return 0
	}
	q := r.URL.Query()
	tok := q.Get("access_token")
	if tok == "" && kind != tokenAuthorizer {
		tok = q.Get("component_access_token")
	}
	if tok == "" {
		return 41001
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	isComponent, code := s.componentTokenState(tok)
	if !isComponent {
		_, _, code = s.authorizerByToken(tok, now)
	}
	if code != 0 {
		return code // 40001 unknown, 42001 expired, whatever its kind
	}
	switch {
	case kind == tokenComponent && !isComponent:
		return 61014
	case kind == tokenAuthorizer && isComponent:
		return 61015
	}
	return 0
}

// componentTokenState tells whether tok is a component_access_token this
// sandbox issued and, if so, whether it can be used now (credentialError).
// Callers hold s.mu.
func (s *Sandbox) componentTokenState(tok string) (bool, int) {
	now := s.now()
	for _, c := range s.comps {
		cs := s.st.ensureComponent(c.AppID)
		for _, t := range slices.Backward(cs.Tokens) {
			if t.Value == tok {
				return true, credentialError(t, now)
			}
		}
	}
	return false, 0
}

// isWeChatAPIPath tells whether path is under one of WeChat's API roots.
func isWeChatAPIPath(path string) bool {
	return strings.HasPrefix(path, "/cgi-bin/") || strings.HasPrefix(path, "/wxa/") || strings.HasPrefix(path, "/sns/")
}
