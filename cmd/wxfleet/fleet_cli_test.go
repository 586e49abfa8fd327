package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// cli runs a wxfleet command against the demo's platform (its URL and
// admin token as flags) and returns its standard output and error.
func (d *testDemo) cli(stdin string, args ...string) (string, error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	args = append(args, "--url", d.Platform.URL(), "--token", d.AdminToken)
	err := run(ctx, args, strings.NewReader(stdin), &out, &errOut, func(string) (string, bool) { return "", false }, nil)
	if errOut.Len() > 0 {
		d.t.Logf("wxfleet %s: stderr %s", strings.Join(args[:2], " "), errOut.String())
	}
	return out.String(), err
}

// bilingual tells whether a message has its Chinese and its English
// halves ("中文 / English").
func bilingual(s string) bool {
	zh, en, ok := strings.Cut(s, "/ ")
	return ok && strings.ContainsFunc(zh, func(r rune) bool { return unicode.Is(unicode.Han, r) }) &&
		strings.ContainsFunc(en, func(r rune) bool { return r >= 'a' && r <= 'z' })
}

// createdID reads the id of "... fleet action N created".
func createdID(t *testing.T, out string) int64 {
	t.Helper()
	var id int64
	for _, f := range strings.Fields(out) {
		if n, err := strconv.ParseInt(f, 10, 64); err == nil {
			id = n
			break
		}
	}
	if id == 0 {
		t.Fatalf("no id in %q", out)
	}
	return id
}

// wxfleet fleet-action: a template's policy applied to two apps with the
// progress watched to the end, a tester WeChat does not know bound to every
// app (status lists each app's errcode), the list, and the mistakes a user
// makes answered with a bilingual sentence.
func TestFleetActionCLI(t *testing.T) {
	d := bootDemo(t)
	apps := d.authorizeAll()
	d.registerPlatformDomains()
	tmpl := d.policyTemplate("5.0.0")
	two := apps[0].AppID + "," + apps[1].AppID

	out, err := d.cli("", "fleet-action", "create", "--kind", "setup", "--template", strconv.FormatInt(tmpl, 10), "--appids", two, "--watch")
	if err != nil {
		t.Fatalf("create --watch: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	setupID := createdID(t, lines[0])
	if !strings.Contains(lines[0], "fleet action") || len(lines) < 2 {
		t.Fatalf("create --watch printed %q", out)
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, "completed") || !strings.Contains(last, "2/2") || !strings.Contains(last, "done 2") ||
		!strings.Contains(last, "setup template "+strconv.FormatInt(tmpl, 10)) || !strings.Contains(last, strings.Repeat("█", 40)) {
		t.Fatalf("the last progress line: %q", last)
	}
	for _, a := range apps[:2] {
		if s := d.appSettings(a.AppID); len(s.Domains.Request) != 1 || s.Domains.Request[0] != "https://api.shop.example" || len(s.Webview) != 1 {
			t.Errorf("%s after the CLI's setup: %+v", a.AppID, s)
		}
	}
	if s := d.appSettings(apps[2].AppID); len(s.Domains.Request) != 0 {
		t.Errorf("%s (not targeted) got domains: %+v", apps[2].AppID, s)
	}

	out, err = d.cli("", "fleet-action", "create", "--kind", "bind_tester", "--wechatid", "ghost_user", "--all")
	if err != nil {
		t.Fatalf("create bind_tester: %v", err)
	}
	ghost := createdID(t, out)
	// watch returns once the action is completed; then status lists the failures.
	if out, err = d.cli("", "fleet-action", "watch", strconv.FormatInt(ghost, 10)); err != nil || !strings.Contains(out, "completed") {
		t.Fatalf("watch: %v %q", err, out)
	}
	out, err = d.cli("", "fleet-action", "status", strconv.FormatInt(ghost, 10))
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	want := fmt.Sprintf("failed %d", len(apps))
	if !strings.Contains(out, want) || !strings.Contains(out, "bind_tester ghost_user") {
		t.Fatalf("status %q, want %q", out, want)
	}
	for _, a := range apps {
		if !strings.Contains(out, a.AppID) {
			t.Errorf("status does not list the failed %s:\n%s", a.AppID, out)
		}
	}
	if n := strings.Count(out, "errcode 85001"); n != len(apps) {
		t.Errorf("status shows errcode 85001 %d times, want %d:\n%s", n, len(apps), out)
	}

	out, err = d.cli("", "fleet-action", "list")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 1 || !strings.Contains(out, fmt.Sprintf("#%d ", setupID)) || !strings.Contains(out, fmt.Sprintf("#%d ", ghost)) {
		t.Fatalf("list: %v\n%s", err, out)
	}

	// The list pages newest first by ?cursor= (cursorParam); a bad cursor is a 400.
	var page struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	if st := d.api("GET", "/api/v1/fleet-actions?limit=1", nil, &page); st != 200 || len(page.Items) != 1 || page.Items[0].ID != ghost || page.NextCursor == "" {
		t.Fatalf("first page: %d %+v", st, page)
	}
	cursor := page.NextCursor
	page.Items = nil
	if st := d.api("GET", "/api/v1/fleet-actions?limit=1&cursor="+cursor, nil, &page); st != 200 || len(page.Items) != 1 || page.Items[0].ID != setupID {
		t.Fatalf("second page: %d %+v", st, page)
	}
	for _, path := range []string{"/api/v1/fleet-actions?cursor=abc", "/api/v1/rollouts?cursor=0", "/api/v1/rollouts?cursor=x"} {
		if st := d.api("GET", path, nil, nil); st != 400 {
			t.Errorf("GET %s: %d, want 400", path, st)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"fleet-action", "create", "--all"}, "--kind"},
		{[]string{"fleet-action", "create", "--kind", "bind_tester", "--wechatid", "x"}, "--all"},
		{[]string{"fleet-action", "create", "--kind", "bind_tester", "--all"}, "wechatid is required"},
		{[]string{"fleet-action", "create", "--kind", "reboot", "--all"}, `kind must be "setup"`},
		{[]string{"fleet-action", "status"}, "needs the id"},
		{[]string{"fleet-action", "status", "abc"}, "not a positive number"},
		{[]string{"fleet-action", "status", "999999"}, "HTTP 404"},
	} {
		_, err := d.cli("", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !bilingual(err.Error()) {
			t.Errorf("wxfleet %s: %v, want a bilingual error naming %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	var errOut bytes.Buffer
	err = run(context.Background(), []string{"fleet-action", "status", "1", "--url", d.Platform.URL(), "--token", "not-the-token"},
		strings.NewReader(""), &bytes.Buffer{}, &errOut, func(string) (string, bool) { return "", false }, nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !bilingual(err.Error()) {
		t.Errorf("a wrong token: %v", err)
	}
}

// wxfleet template policy: none at first, set from a file (and shown back),
// a domain with the wrong scheme refused from standard input with the
// platform's reason, cleared; the fleet-action setup then refuses the
// template that declares nothing.
func TestTemplatePolicyCLI(t *testing.T) {
	d := bootDemo(t)
	d.authorizeAll()
	tmpl := d.makeTemplate("6.0.0", `{"ext":{"shop":"${appid}"}}`)
	id := strconv.FormatInt(tmpl, 10)

	if out, err := d.cli("", "template", "policy", "get", id); err != nil || !strings.Contains(out, "no policy") {
		t.Fatalf("get before any policy: %v %q", err, out)
	}
	file := filepath.Join(t.TempDir(), "policy.json")
	policy := `{"domains":{"requestdomain":["https://api.cli.example"]},"webviewdomain":["https://h5.cli.example"],
		"privacy":{"owner_setting":{"contact_email":"privacy@cli.example","notice_method":"弹窗提示"},
		"setting_list":[{"privacy_key":"PhoneNumber","privacy_text":"用于会员登录"}]}}`
	if err := os.WriteFile(file, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := d.cli("", "template", "policy", "set", id, "--file", file)
	if err != nil || !strings.Contains(out, "policy saved") || !strings.Contains(out, "https://api.cli.example") {
		t.Fatalf("set: %v %q", err, out)
	}
	var got struct {
		Policy struct {
			Domains struct {
				Request []string `json:"requestdomain"`
			} `json:"domains"`
			Webview []string `json:"webviewdomain"`
			Privacy *struct {
				SettingList []map[string]string `json:"setting_list"`
			} `json:"privacy"`
		} `json:"policy"`
	}
	if st := d.api("GET", "/api/v1/templates/"+id, nil, &got); st != 200 || len(got.Policy.Domains.Request) != 1 ||
		len(got.Policy.Webview) != 1 || got.Policy.Privacy == nil || got.Policy.Privacy.SettingList[0]["privacy_key"] != "PhoneNumber" {
		t.Fatalf("the stored policy: %d %+v", st, got)
	}
	if out, err := d.cli("", "template", "policy", "get", id); err != nil || !strings.Contains(out, `"privacy_key": "PhoneNumber"`) {
		t.Fatalf("get: %v %q", err, out)
	}

	_, err = d.cli(`{"domains":{"requestdomain":["wss://api.cli.example"]}}`, "template", "policy", "set", id, "--file", "-")
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !bilingual(err.Error()) {
		t.Fatalf("a bad policy from stdin: %v", err)
	}
	if st := d.api("GET", "/api/v1/templates/"+id, nil, &got); st != 200 || len(got.Policy.Domains.Request) != 1 || got.Policy.Domains.Request[0] != "https://api.cli.example" {
		t.Fatalf("the refused policy changed the stored one: %+v", got)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"template", "policy", "set", id}, "--file"},
		{"not json", []string{"template", "policy", "set", id, "--file", "-"}, "not a JSON object"},
		{"", []string{"template", "policy", "set", id, "--file", file, "--clear"}, "not both"},
		{"", []string{"template", "policy", "get"}, "needs the id"},
		{"", []string{"template", "policy", "get", "999999"}, "HTTP 404"},
	} {
		_, err := d.cli(c.stdin, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !bilingual(err.Error()) {
			t.Errorf("wxfleet %s: %v, want a bilingual error naming %q", strings.Join(c.args, " "), err, c.want)
		}
	}

	if out, err := d.cli("", "template", "policy", "set", id, "--clear"); err != nil || !strings.Contains(out, "no policy") {
		t.Fatalf("clear: %v %q", err, out)
	}
	if out, err := d.cli("", "template", "policy", "get", id); err != nil || !strings.Contains(out, "no policy") {
		t.Fatalf("get after clear: %v %q", err, out)
	}
	_, err = d.cli("", "fleet-action", "create", "--kind", "setup", "--template", id, "--all")
	if err == nil || !strings.Contains(err.Error(), "declares no domain or privacy policy") {
		t.Fatalf("setup with a template without policy: %v", err)
	}
}
