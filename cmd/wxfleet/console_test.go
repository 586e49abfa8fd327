package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// console is a signed-in browser without the browser: a cookie jar, no
// redirects followed, the session's CSRF token read off its pages.
type console struct {
	d    *testDemo
	http *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

func (d *testDemo) console() *console {
	d.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &console{d: d, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	st, page := c.get("/login")
	if st != 200 {
		d.t.Fatalf("login page: HTTP %d", st)
	}
	form := url.Values{"token": {d.AdminToken}, "next": {"/"}}
	if m := csrfField.FindStringSubmatch(page); m != nil {
		form.Set("csrf", m[1])
	}
	if st, _ := c.post("/login", form); st != http.StatusSeeOther {
		d.t.Fatalf("console login: HTTP %d", st)
	}
	return c
}

func (c *console) do(req *http.Request) (int, string, http.Header) {
	c.d.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, string(b), resp.Header
}

func (c *console) get(path string) (int, string) {
	req, _ := http.NewRequest("GET", c.d.Platform.URL()+path, nil)
	st, body, _ := c.do(req)
	return st, body
}

// post submits a form with the session's CSRF token, as the page's form would.
func (c *console) post(path string, form url.Values) (int, string) {
	c.d.t.Helper()
	if c.csrf != "" && form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest("POST", c.d.Platform.URL()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	st, body, hdr := c.do(req)
	if loc := hdr.Get("Location"); loc != "" {
		return st, loc
	}
	return st, body
}

// Everything the rollout API does can be done from the console: a template
// made from a draft, a rollout previewed and started, paused, resumed, and
// cancelled after a confirmation.
func TestConsoleTemplateAndRolloutActions(t *testing.T) {
	d := bootDemo(t)
	apps := d.authorizeAll()
	if st := d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1h"}, nil); st != 200 {
		t.Fatalf("audit rules: %d", st)
	}
	var draft struct {
		DraftID int64 `json:"draft_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/drafts", map[string]any{"user_version": "4.0.0", "user_desc": "控制台", "pages": []string{"pages/index/index"}}, &draft); st != 200 && st != 201 {
		t.Fatalf("draft: %d", st)
	}
	c := d.console()
	q := "?platform=" + demoPlatform.AppID

	if st, page := c.get("/templates/drafts" + q); st != 200 || !strings.Contains(page, fmt.Sprintf(`data-draft="%d"`, draft.DraftID)) {
		t.Fatalf("drafts fragment: HTTP %d, without draft %d:\n%s", st, draft.DraftID, page)
	}
	st, loc := c.post("/templates", url.Values{"platform": {demoPlatform.AppID}, "draft_id": {fmt.Sprint(draft.DraftID)}, "ext_json": {`{"ext":{"shop":"${appid}"}}`}, "notes": {"从控制台"}})
	m := regexp.MustCompile(`added=(\d+)`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("make template: HTTP %d → %q", st, loc)
	}
	tmpl := m[1]
	if _, page := c.get("/templates" + q); !strings.Contains(page, `data-template="`+tmpl+`"`) || !strings.Contains(page, "从控制台") {
		t.Fatalf("the templates page lacks template %s", tmpl)
	}
	// A bad draft id is refused with the reason, nothing made.
	if st, page := c.post("/templates", url.Values{"platform": {demoPlatform.AppID}, "draft_id": {"0"}}); st != 400 || !strings.Contains(page, "draft_id") {
		t.Errorf("template without a draft: HTTP %d, want 400 naming draft_id", st)
	}

	// The preview lists every app and sends nothing.
	st, page := c.get("/rollouts/new" + q + "&preview=1&template_id=" + tmpl + "&target=all&batch_size=2")
	if st != 200 || !strings.Contains(page, fmt.Sprintf(`id="plan-commit">%d<`, len(apps))) {
		t.Fatalf("preview: HTTP %d, want %d to commit:\n%s", st, len(apps), page)
	}
	for _, a := range apps {
		if c := d.appCode(a.AppID); c.Counts["commits"] != 0 {
			t.Fatalf("the preview committed %s", a.AppID)
		}
	}
	if _, bad := c.get("/rollouts/new" + q + "&preview=1&template_id=" + tmpl + "&batch_size=many"); !strings.Contains(bad, "batch_size") {
		t.Errorf("a batch size that is not a number: the page does not name batch_size")
	}
	st, loc = c.post("/rollouts", url.Values{"platform": {demoPlatform.AppID}, "template_id": {tmpl}, "target": {"all"}, "batch_size": {"2"}})
	m = regexp.MustCompile(`^/rollouts/(\d+)\?`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("start rollout: HTTP %d → %q", st, loc)
	}
	id := m[1]
	d.eventually("the rollout running", func() bool {
		var r rolloutStatus
		d.api("GET", "/api/v1/rollouts/"+id, nil, &r)
		return r.Status == "running"
	})
	if _, page := c.get("/rollouts/" + id + q); !strings.Contains(page, `id="act-pause"`) || !strings.Contains(page, `id="act-cancel"`) {
		t.Fatalf("a running rollout's page lacks pause and cancel")
	}

	act := func(action string, extra url.Values) (int, string) {
		form := url.Values{"platform": {demoPlatform.AppID}}
		for k, v := range extra {
			form[k] = v
		}
		return c.post("/rollouts/"+id+"/"+action, form)
	}
	status := func() string {
		var r rolloutStatus
		d.api("GET", "/api/v1/rollouts/"+id, nil, &r)
		return r.Status
	}
	if st, _ := act("pause", nil); st != http.StatusSeeOther || status() != "paused" {
		t.Fatalf("pause: HTTP %d, status %s", st, status())
	}
	if st, _ := act("resume", nil); st != http.StatusSeeOther || status() != "running" {
		t.Fatalf("resume: HTTP %d, status %s", st, status())
	}
	// Cancel asks first; only the confirmation cancels.
	if st, page := act("cancel", nil); st != 200 || !strings.Contains(page, `id="confirm-action"`) || status() != "running" {
		t.Fatalf("cancel without confirmation: HTTP %d, status %s; want the confirmation page and nothing done", st, status())
	}
	if st, _ := act("cancel", url.Values{"confirm": {"yes"}}); st != http.StatusSeeOther || status() != "cancelled" {
		t.Fatalf("confirmed cancel: HTTP %d, status %s", st, status())
	}
	if st, page := act("explode", url.Values{"confirm": {"yes"}}); st != 404 || !strings.Contains(page, "explode") {
		t.Errorf("an unknown action: HTTP %d, want 404 naming it", st)
	}
	// Each form that acted is in the audit log, by the signed-in session;
	// the refused template, the confirmation page and the unknown action are not.
	var audit struct {
		Items []struct {
			Action, Via, Target string
		} `json:"items"`
	}
	d.api("GET", "/api/v1/audit-log?limit=20", nil, &audit)
	var got []string
	for _, e := range audit.Items {
		if e.Via == "session" {
			got = append(got, e.Action+" "+e.Target)
		}
	}
	if want := []string{"rollout.cancel " + id, "rollout.resume " + id, "rollout.pause " + id, "rollout.create " + id, "template.create " + tmpl}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the console's audit entries: %v, want %v", got, want)
	}
}
