package sandbox

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The IP whitelist (白名单IP地址列表): WeChat answers a third-party platform's
// component API calls (/cgi-bin/component/…) with 61004 unless they come from
// an address the platform registered. A platform moved to a new server whose
// address nobody registered meets this in production; the sandbox lets it be
// rehearsed. A component without a whitelist accepts every address, so the
// demo works as it comes.

// whitelistAllows tells whether the caller of a component API may call it:
// the component named by the body's component_appid or by the token, if it
// has a whitelist, must list the caller's address. jscode2session, called
// with the component token, is held to it too (61004 in its error table,
// docs/wechat-runtime.md). Callers hold s.mu.
func (s *Sandbox) whitelistAllows(r *http.Request, body []byte) bool {
	if !strings.HasPrefix(r.URL.Path, "/cgi-bin/component/") && r.URL.Path != pathJSCode2Session {
		return true
	}
	cs := s.st.Components[s.callingComponent(r, body)]
	if cs == nil || len(cs.IPWhitelist) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, entry := range cs.IPWhitelist {
		if p, err := parseWhitelistEntry(entry); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseWhitelistEntry reads an address or a CIDR range.
func parseWhitelistEntry(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// GET /sandbox/api/ip-whitelist?component_appid=: the component's whitelist.
func (s *Sandbox) handleGetWhitelist(w http.ResponseWriter, r *http.Request) {
	c, err := s.componentFor(r.URL.Query().Get("component_appid"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	ips := append([]string{}, s.st.ensureComponent(c.AppID).IPWhitelist...)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"component_appid": c.AppID, "ips": ips})
}

// POST /sandbox/api/ip-whitelist {"component_appid"?, "ips": ["203.0.113.7", "10.0.0.0/8"]}:
// replaces the component's whitelist; an empty list accepts every address.
func (s *Sandbox) handleSetWhitelist(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ComponentAppID string   `json:"component_appid"`
		IPs            []string `json:"ips"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.IPs == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `请求体应为 {"ips": ["203.0.113.7", "10.0.0.0/8"]} / body must be {"ips": [...]}`})
		return
	}
	c, err := s.componentFor(req.ComponentAppID)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	for _, ip := range req.IPs {
		if _, err := parseWhitelistEntry(ip); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "不是 IP 地址或网段 / not an IP address or CIDR range: " + ip})
			return
		}
	}
	s.mu.Lock()
	s.st.ensureComponent(c.AppID).IPWhitelist = req.IPs
	s.touch(ref{kind: kComponent, a: c.AppID})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"component_appid": c.AppID, "ips": req.IPs})
}
