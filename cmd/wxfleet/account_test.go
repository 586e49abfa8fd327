package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleLogin signs in through the login form as a browser does (the form's
// CSRF token, its cookie) with creds (email and password, or the admin
// token) and returns the session cookie.
func (d *testDemo) consoleLogin(creds url.Values) *http.Cookie {
	d.t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := http.Get(d.Platform.URL() + "/login")
	if err != nil {
		d.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(b)
	if m == nil {
		d.t.Fatalf("login page: HTTP %d without a CSRF field", resp.StatusCode)
	}
	form := url.Values{"csrf": {string(m[1])}, "next": {"/"}}
	for k, v := range creds {
		form[k] = v
	}
	req, _ := http.NewRequest("POST", d.Platform.URL()+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = noRedirect.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "wxfleet_session" && c.Value != "" {
			return c
		}
	}
	d.t.Fatalf("console login: HTTP %d, no session cookie", resp.StatusCode)
	return nil
}

// The demo makes an owner account on its first start and prints how to
// sign in; the owner's session opens the console and the audit log shows
// the sign-in. A restart keeps the same credentials.
func TestDemoOwnerSignsIn(t *testing.T) {
	d := bootDemo(t)
	if d.OwnerEmail == "" || len(d.OwnerPassword) < 12 {
		t.Fatalf("demo owner %q / %q", d.OwnerEmail, d.OwnerPassword)
	}
	session := d.consoleLogin(url.Values{"email": {d.OwnerEmail}, "password": {d.OwnerPassword}})
	req, _ := http.NewRequest("GET", d.Platform.URL()+"/audit-log", nil)
	req.AddCookie(session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "login.success") || !strings.Contains(string(b), d.OwnerEmail) {
		t.Fatalf("audit log page: HTTP %d\n%s", resp.StatusCode, b)
	}
	pw, err := os.ReadFile(filepath.Join(d.data, "demo-owner.password"))
	if err != nil || strings.TrimSpace(string(pw)) != d.OwnerPassword {
		t.Fatalf("the demo owner's password file: %q %v", pw, err)
	}
	if fi, _ := os.Stat(filepath.Join(d.data, "demo-owner.password")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode %v, want 0600", fi.Mode().Perm())
	}
}

// wxfleet account: create an owner (password generated and printed once,
// or read from stdin), list, reset, disable; each is in the audit log.
func TestAccountCommand(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"WXFLEET_DATA": data}
	out, _, err := runCmd(t, "", env, "account", "create", "--email", "Boss@Example.com", "--role", "owner", "--name", "老板")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`password \(shown once\): (\S+)`).FindStringSubmatch(out)
	if !strings.Contains(out, "boss@example.com (owner)") || m == nil || len(m[1]) < 12 {
		t.Fatalf("create: %s", out)
	}
	if _, _, err := runCmd(t, "", env, "account", "create", "--email", "boss@example.com", "--role", "viewer"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second account with the email: %v", err)
	}
	if _, _, err := runCmd(t, "short\n", env, "account", "create", "--email", "m@shop.cn", "--role", "merchant", "--tenant-id", "3", "--password-stdin"); err == nil {
		t.Fatal("a short password from stdin was taken")
	}
	if _, _, err := runCmd(t, "", env, "account", "create", "--email", "m@shop.cn", "--role", "merchant"); err == nil || !strings.Contains(err.Error(), "tenant_id") {
		t.Fatalf("a merchant without a tenant: %v", err)
	}
	out, _, err = runCmd(t, "a merchant's long password\n", env, "account", "create", "--email", "m@shop.cn", "--role", "merchant", "--tenant-id", "3", "--password-stdin")
	if err != nil || strings.Contains(out, "shown once") {
		t.Fatalf("create from stdin: %s %v", out, err)
	}
	if _, _, err := runCmd(t, "", env, "account", "disable", "--email", "m@shop.cn"); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, "", env, "account", "reset-password", "--email", "boss@example.com")
	if err != nil || !strings.Contains(out, "password (shown once)") || strings.Contains(out, m[1]) {
		t.Fatalf("reset: %s %v", out, err)
	}
	out, _, err = runCmd(t, "", env, "account", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`boss@example.com\s+owner\s+0\s+enabled\s+老板`).MatchString(out) || !regexp.MustCompile(`m@shop.cn\s+merchant\s+3\s+disabled`).MatchString(out) {
		t.Fatalf("list:\n%s", out)
	}
	if _, _, err := runCmd(t, "", env, "account", "frobnicate"); err == nil {
		t.Fatal("an unknown subcommand ran")
	}
}
