package server

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// browserForm opens the page at u as a browser would (with the cookies in
// cookie, "" for none) and returns the cookies to send with its form, and
// the form's CSRF token.
func browserForm(t *testing.T, u, cookie string) (cookies, csrf string) {
	t.Helper()
	var hdr []string
	if cookie != "" {
		hdr = []string{"Cookie", cookie}
	}
	resp := do(t, "GET", u, nil, hdr...)
	b, _ := io.ReadAll(resp.Body)
	m := csrfInput.FindSubmatch(b)
	if m == nil {
		t.Fatalf("GET %s: %d, no CSRF field in the page", u, resp.StatusCode)
	}
	jar := []string{}
	if cookie != "" {
		jar = append(jar, cookie)
	}
	for _, c := range resp.Cookies() {
		jar = append(jar, c.Name+"="+c.Value)
	}
	return strings.Join(jar, "; "), string(m[1])
}

// sessionCookieOf returns the session cookie a login answer set.
func sessionCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "wxfleet_session" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login answered %d and set no session cookie", resp.StatusCode)
	return nil
}
