package sandbox

import (
	"net/http"
	"slices"
)

// Authorizer options (授权方选项信息), in both generations WeChat has
// (docs/wechat-component.md, "Authorizer options"): the component-token
// APIs api_get_authorizer_option / api_set_authorizer_option, which name
// the authorizer in the body, and the newer get_authorizer_option /
// set_authorizer_option, which take the authorizer's own token. Values are
// strings; an unknown option_name is 61012, a value the option does not
// take 61013. The options are kept per authorization and start at "0".

// authorizerOptions lists each option and the values it takes.
var authorizerOptions = map[string][]string{
	"location_report":  {"0", "1", "2"}, // 0 none, 1 on entering a session, 2 every 5 s
	"voice_recognize":  {"0", "1"},
	"customer_service": {"0", "1"},
}

// optionRequest is the body of every option API; the component-token ones
// also carry component_appid and authorizer_appid.
type optionRequest struct {
	ComponentAppID  string  `json:"component_appid"`
	AuthorizerAppID string  `json:"authorizer_appid"`
	Name            string  `json:"option_name"`
	Value           *string `json:"option_value"`
}

// checkOption validates a name, and a value when set is true.
func (req *optionRequest) check(set bool) int {
	values, ok := authorizerOptions[req.Name]
	if !ok {
		return 61012 // invalid option name
	}
	if set && (req.Value == nil || !slices.Contains(values, *req.Value)) {
		return 61013 // invalid option value
	}
	return 0
}

// optionOf reads an option of an authorization. Callers hold s.mu.
func optionOf(authz *authorization, name string) string {
	if v, ok := authz.Options[name]; ok {
		return v
	}
	return "0"
}

// setOption stores an option of an authorization. Callers hold s.mu.
func (s *Sandbox) setOption(authz *authorization, name, value string) {
	if authz.Options == nil {
		authz.Options = map[string]string{}
	}
	authz.Options[name] = value
	s.touch(ref{kind: kAuthz, a: authz.component, b: authz.AppID})
}

// componentOptionCall runs the checks of the component-token option APIs:
// the token and component_appid (componentCall), then the authorizer
// (61003 when it has not authorized the component), then the option.
func (s *Sandbox) componentOptionCall(r *http.Request, body []byte, set bool) (*authorization, *optionRequest, int) {
	var req optionRequest
	_, cs, code := s.componentCall(r, body, &req, &req.ComponentAppID)
	if code != 0 {
		return nil, nil, code
	}
	authz := cs.Authorizations[req.AuthorizerAppID]
	if authz == nil || !authz.Authorized {
		return nil, nil, 61003
	}
	if code := req.check(set); code != 0 {
		return nil, nil, code
	}
	return authz, &req, 0
}

// POST /cgi-bin/component/api_get_authorizer_option?component_access_token=…
// {component_appid, authorizer_appid, option_name} → {authorizer_appid, option_name, option_value}
func (s *Sandbox) apiGetAuthorizerOption(r *http.Request, body []byte) (any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	authz, req, code := s.componentOptionCall(r, body, false)
	if code != 0 {
		return nil, code
	}
	return struct {
		AppID string `json:"authorizer_appid"`
		Name  string `json:"option_name"`
		Value string `json:"option_value"`
	}{authz.AppID, req.Name, optionOf(authz, req.Name)}, 0
}

// POST /cgi-bin/component/api_set_authorizer_option?component_access_token=…
// {component_appid, authorizer_appid, option_name, option_value} → ok
func (s *Sandbox) apiSetAuthorizerOption(r *http.Request, body []byte) (any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	authz, req, code := s.componentOptionCall(r, body, true)
	if code != 0 {
		return nil, code
	}
	s.setOption(authz, req.Name, *req.Value)
	return ok(), 0
}

// authorizerOptionCall runs the checks of the authorizer-token option APIs:
// the token (its kind was checked before: tokens.go), the body, the option.
// component_appid and authorizer_appid in the body are ignored, as WeChat
// ignores them (WxJava sends them).
func (s *Sandbox) authorizerOptionCall(r *http.Request, body []byte, set bool) (*authorization, *optionRequest, int) {
	_, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), s.now())
	if code != 0 {
		return nil, nil, code
	}
	var req optionRequest
	if code := decode(body, &req); code != 0 {
		return nil, nil, code
	}
	if code := req.check(set); code != 0 {
		return nil, nil, code
	}
	return authz, &req, 0
}

// POST /cgi-bin/component/get_authorizer_option?access_token=<authorizer token>
// {option_name} → {option_name, option_value}
func (s *Sandbox) apiGetOwnOption(r *http.Request, body []byte) (any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	authz, req, code := s.authorizerOptionCall(r, body, false)
	if code != 0 {
		return nil, code
	}
	return struct {
		Name  string `json:"option_name"`
		Value string `json:"option_value"`
	}{req.Name, optionOf(authz, req.Name)}, 0
}

// POST /cgi-bin/component/set_authorizer_option?access_token=<authorizer token>
// {option_name, option_value} → ok
func (s *Sandbox) apiSetOwnOption(r *http.Request, body []byte) (any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	authz, req, code := s.authorizerOptionCall(r, body, true)
	if code != 0 {
		return nil, code
	}
	s.setOption(authz, req.Name, *req.Value)
	return ok(), 0
}
