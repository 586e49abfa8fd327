package web

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wechat"
)

// Body caps per kind of route. Unauthenticated forms get a few KiB: a login
// form once buffered 10 MB, and 64 such logins took 800 MB.
const (
	formBodyCap = 4 << 10
	// DefaultAPIBodyCap is the JSON API's cap unless Server.APIBodyCap says otherwise.
	DefaultAPIBodyCap = 1 << 20
)

// capBody refuses a body over n bytes: at once (413) when its declared
// length says so, before a byte of it is read; otherwise reading stops at n
// and the handler's read fails with *http.MaxBytesError (see bodyErr).
func capBody(n int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			w.Header().Set("Connection", "close") // the unread body is not worth draining
			// The one error shape, like every other error (web/errors.go).
			writeJSON(w, statusOf[wxfleet.ETOOLARGE], NewErrorBody(wxfleet.ETOOLARGE,
				fmt.Sprintf("请求体超过 %d 字节 / request body over %d bytes", n, n), RequestIDFrom(r.Context())))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h.ServeHTTP(w, r)
	})
}

// bodyErr turns a failed body read into the coded error: too large (413) or
// unreadable (400).
func bodyErr(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return wxfleet.Errorf(wxfleet.ETOOLARGE, "请求体超过 %d 字节 / request body over %d bytes", tooBig.Limit, tooBig.Limit)
	}
	return wxfleet.WrapError(wxfleet.EINVALID, "请求体无法读取 / request body unreadable", err)
}

// contentSecurityPolicy allows this site's own scripts and styles (inline
// styles: the templates use style attributes), WeChat's avatar images, and
// no framing. form-action is left out on purpose: the authorization forms
// post here and are redirected on to WeChat's page, which form-action would
// block in some browsers.
func contentSecurityPolicy(imgOrigin string) string {
	img := "'self' https: data:"
	if imgOrigin != "" {
		img += " " + imgOrigin
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src " + img + "; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
}

// SecurityHeaders sets the headers every response carries: no MIME
// sniffing, the CSP, no framing, HSTS when served over TLS (directly, or
// behind a TLS proxy when publicHTTPS), and a Referrer-Policy that sends
// other sites the origin only: WeChat's authorization page checks that the
// visitor came from the platform's registered domain, so "no-referrer" would
// break it while the full URL would leak link ids.
//
// wechatURL is where WeChat's hosts point when they are not WeChat's own (the
// sandbox, "" otherwise): its avatars are served over plain HTTP from
// another origin, which the CSP then allows too.
func SecurityHeaders(publicHTTPS bool, wechatURL string, next http.Handler) http.Handler {
	imgOrigin := ""
	if u, err := url.Parse(wechatURL); err == nil && wechatURL != "" && u.Scheme == "http" && u.Host != "" {
		imgOrigin = u.Scheme + "://" + u.Host
	}
	csp := contentSecurityPolicy(imgOrigin)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		if r.TLS != nil || publicHTTPS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// ParseTrustedProxies parses a comma-separated list of addresses and CIDR
// prefixes (WXFLEET_TRUSTED_PROXIES).
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "可信代理 %q 不是 IP 地址或 CIDR / trusted proxy %q is not an IP address or CIDR prefix", f, f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// clientIP is who sent r: the peer address, or, when the peer is one of the
// trusted proxies, the last address in X-Forwarded-For that is not one
// (proxies append the address they saw, so the entries left of it are
// whatever the client claimed). Anyone else's X-Forwarded-For is ignored: a
// client could otherwise pick a fresh address for every request and escape
// every per-client limit.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last address a trusted proxy vouched for
		}
		if !s.trusted(a) {
			return a.Unmap().String()
		}
		host = a.Unmap().String()
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardPath is the WeChat API path a forward request names, or why it is
// refused. The route's {path...} is decoded, so "..%2F" arrives as "../" and
// once reached the sandbox's control API upstream: the escaped form is
// checked for encoded slashes, backslashes and dots, the decoded one for dot
// and empty segments, and only WeChat's API families are forwarded at all.
func forwardPath(r *http.Request) (string, error) {
	p := "/" + r.PathValue("path")
	escaped := r.URL.EscapedPath()
	lower := strings.ToLower(escaped)
	for _, bad := range []string{"%2f", "%5c", "%2e", "\\", "%00"} {
		if strings.Contains(lower, bad) {
			return "", wxfleet.Errorf(wxfleet.EINVALID, "转发路径不能含编码的斜杠、反斜杠或点 / the forwarded path must not contain encoded slashes, backslashes or dots")
		}
	}
	if err := checkForwardSegments(p); err != nil {
		return "", err
	}
	return p, nil
}

// checkForwardSegments refuses a forwarded path with an empty, . or ..
// segment, or outside WeChat's API families.
func checkForwardSegments(p string) error {
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return wxfleet.Errorf(wxfleet.EINVALID, "转发路径不能含空段或 . / .. / the forwarded path must not contain empty, . or .. segments")
		}
	}
	if !wechat.UnderAPIPrefix(p) {
		return wxfleet.Errorf(wxfleet.EFORBIDDEN, "只转发微信 API 路径（/cgi-bin/、/wxa/、/sns/ 等）/ only WeChat API paths are forwarded (/cgi-bin/, /wxa/, /sns/, …): %s", p)
	}
	return nil
}
