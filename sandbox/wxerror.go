package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// errmsg returns the English errmsg WeChat sends with an errcode. Texts come
// from WeChat's doc tables, SDK enums and answers quoted in public code
// (docs/wechat-sandbox.md, "Error texts"); 61010, 61012, 61013 and 40008
// are paraphrases, their exact wording is unverified.
func errmsg(code int) string {
	if m, ok := codeErrmsg(code); ok { // code management: code.go
		return m
	}
	switch code {
	case -1:
		return "system error"
	case 0:
		return "ok"
	case 40001:
		return "invalid credential, access_token is invalid or not latest"
	case 40002:
		return "invalid grant_type"
	case 40003:
		return "invalid openid"
	case 40008:
		return "invalid message type"
	case 40013:
		return "invalid appid"
	case 40014:
		return "invalid access_token"
	case 40029:
		return "invalid code"
	case 40125:
		return "invalid appsecret"
	case 40163:
		return "code been used"
	case 40170:
		return "args count exceed count limit"
	case 41001:
		return "access_token missing"
	case 41002:
		return "appid missing"
	case 41008:
		return "missing code"
	case 41018:
		return "missing component_appid"
	case 41004:
		return "appsecret missing"
	case 42001:
		return "access_token expired"
	case 43002:
		return "require POST method"
	case 44002:
		return "empty post data"
	case 45009:
		return "reach max api daily quota limit"
	case 45015:
		return "response out of time limit or subscription is canceled"
	case 45047:
		return "out of response count limit"
	case 47001:
		return "data format error"
	case 48001:
		return "api unauthorized"
	case 48006:
		return "forbid to clear quota because of reaching the limit"
	case 61003:
		return "component is not authorized by this account"
	case 61004:
		return "access clientip is not registered"
	case 61005:
		return "component ticket is expired"
	case 61006:
		return "component ticket is invalid"
	case 61007:
		return "api is unauthorized to component"
	case 61009:
		return "code is invalid" // as WeChat writes it (silenceper/wechat quotes an answer)
	case 61010:
		return "code is expired"
	case 61011:
		return "invalid component"
	case 61012:
		return "invalid option name"
	case 61013:
		return "invalid option value"
	case 61014:
		return "must use component token for component api"
	case 61015:
		return "must use biz account token for not component api"
	case 61023:
		return "refresh_token is invalid"
	case 76021:
		return "cgi_path not found, please check"
	case 76022:
		return "could not use this cgi_path,no permission"
	}
	return "error injected by the wxfleet sandbox"
}

// wxError is WeChat's error body.
type wxError struct {
	Errcode int    `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

// writeWxError answers like WeChat: HTTP 200, errcode and the English errmsg
// with WeChat's " rid: <hex>-<hex>-<hex>" suffix. The rid's first part is the
// wall-clock unix time in hex, as in real rids. 61004 names the caller's
// address before the rid ("requestIP: 203.0.113.7"), the address an operator
// must add to the whitelist, as WeChat's answer does.
func (s *Sandbox) writeWxError(w http.ResponseWriter, r *http.Request, code int) {
	rid := fmt.Sprintf("%08x-%08x-%08x", uint32(s.wall().Unix()), uint32(randomInt(1<<32)), uint32(randomInt(1<<32)))
	msg := errmsg(code)
	if code == 61004 {
		msg += " requestIP: " + remoteIP(r)
	}
	writeJSON(w, http.StatusOK, wxError{Errcode: code, Errmsg: msg + " rid: " + rid})
}

// remoteIP is the caller's address as WeChat sees it, without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().String()
	}
	return host
}

// writeJSON writes v without HTML escaping, so URLs keep their '&' as WeChat
// sends them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// seconds renders a remaining lifetime as whole seconds for expires_in.
func seconds(d time.Duration) int {
	if d < 0 {
		return 0
	}
	return int(d / time.Second)
}
