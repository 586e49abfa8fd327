package main

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// rolloutKnobs give a `wxfleet serve` process the demo's short rollout
// timings (see testDurations) and River's rescue of a killed process's jobs
// after seconds instead of minutes.
var rolloutKnobs = []string{
	"WXFLEET_TEST_JOB_TIMEOUT_SCALE=" + crashTimeoutScale,
	"WXFLEET_TEST_JOB_POLL_INTERVAL=50ms",
	"WXFLEET_TEST_AUDIT_POLL_INTERVAL=500ms",
	"WXFLEET_TEST_ROLLOUT_RETRY_BASE=200ms",
	"WXFLEET_TEST_ROLLOUT_QUOTA_WAIT=300ms",
	"WXFLEET_TEST_ROLLOUT_SETTLE_TIME=3s",
	"WXFLEET_TEST_WECHAT_TIMEOUT=2s",
}

// A rollout to 50 mini programs survives `kill -9` of the platform: WeChat is
// a separate `wxfleet sandbox` process, the platform is killed three times
// while it commits and submits (two cohorts of 25), and restarted each time
// on the same data.
// The sandbox's own counters must show exactly one successful commit, one
// successful submit_audit and one release per app: a step the kill left
// unfinished is settled by asking WeChat, never by calling again blindly.
func TestRolloutSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wxfleet serve four times and wxfleet sandbox")
	}
	// In parallel with the other long tests that wait much of their time
	// (the kill, drain and PostgreSQL tests).
	t.Parallel()
	const n = 50
	dir := t.TempDir()
	var platform atomic.Pointer[url.URL]
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if u := platform.Load(); u != nil {
			r.SetURL(u)
		}
	}, ErrorLog: log.New(io.Discard, "", 0)}) // pushes fail while the platform is down: the sandbox retries
	start := time.Now()
	defer proxy.Close()
	sandboxURL := startSandboxProcess(t, filepath.Join(dir, "sandbox"), proxy.URL)
	sb := func(method, path string, body, out any) int { return do(t, method, sandboxURL+path, nil, body, out) }
	p := startServeWith(t, dir, sandboxURL, rolloutKnobs...)
	setTarget(t, &platform, p.url)
	api := func(method, path string, body, out any) int {
		return do(t, method, p.url+path, map[string]string{"Authorization": "Bearer crash-admin-token-of-at-least-32-chars"}, body, out)
	}
	waitFor(t, 30*time.Second, "a valid component_verify_ticket", func() bool {
		var out struct {
			Items []struct {
				TicketValid bool `json:"ticket_valid"`
			} `json:"items"`
		}
		api("GET", "/api/v1/platforms", nil, &out)
		return len(out.Items) == 1 && out.Items[0].TicketValid
	})

	var bulk struct {
		AppIDs     []string `json:"appids"`
		Authorized int      `json:"authorized"`
	}
	if st := sb("POST", "/sandbox/api/apps/bulk", map[string]any{"count": n, "authorize": true}, &bulk); st != 200 || bulk.Authorized != n {
		t.Fatalf("bulk: HTTP %d, %+v", st, bulk)
	}
	waitFor(t, 60*time.Second, "the fleet authorized on the platform", func() bool {
		var list struct {
			Total int `json:"total"`
		}
		api("GET", "/api/v1/authorizers?status=authorized&limit=1", nil, &list)
		return list.Total == n
	})
	t.Logf("%s: %d apps authorized", time.Since(start).Round(time.Second), n)
	sb("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1s"}, nil)
	// Half the commits and submissions are slow, so that calls are in flight
	// when the platform dies.
	for _, path := range []string{"/wxa/commit", "/wxa/submit_audit"} {
		if st := sb("POST", "/sandbox/api/faults", map[string]any{"path": path, "latency": "150ms", "rate": 0.5}, nil); st != 200 && st != 201 {
			t.Fatalf("latency fault: %d", st)
		}
	}
	var draft struct {
		DraftID int64 `json:"draft_id"`
	}
	if st := sb("POST", "/sandbox/api/drafts", map[string]any{"user_version": "5.0.0", "user_desc": "crash", "pages": []string{"pages/index/index"}}, &draft); st != 200 && st != 201 {
		t.Fatalf("draft: %d", st)
	}
	var tmpl struct {
		TemplateID int64 `json:"template_id"`
	}
	if st := api("POST", "/api/v1/templates", map[string]any{"draft_id": draft.DraftID, "ext_json": `{"ext":{"crash":true}}`}, &tmpl); st != 201 {
		t.Fatalf("template: %d", st)
	}
	var created rolloutStatus
	if st := api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl.TemplateID, "targets": map[string]bool{"all": true}, "batch_size": 25}, &created); st != 201 {
		t.Fatalf("create rollout: %d", st)
	}
	sum := func(key string) int {
		total := 0
		for _, c := range sbFleetCounts(t, sandboxURL) {
			total += c.Counts[key]
		}
		return total
	}

	// Kill while the first cohort commits, and twice more soon after each
	// restart, while it commits and submits: River takes the jobs the kills
	// left running back in one pass (it looks every 30 s), so each extra kill
	// costs little.
	kills := []struct {
		counter string
		atLeast int
	}{{"commits", 5}, {"commits", 12}, {"submits", 3}}
	for i, k := range kills {
		waitFor(t, 3*time.Minute, fmt.Sprintf("%d successful %s before kill %d", k.atLeast, k.counter, i+1),
			func() bool { return sum(k.counter) >= k.atLeast }, p.output)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.exited
		t.Logf("%s: kill %d at %d commits, %d submits, %d releases", time.Since(start).Round(time.Second), i+1, sum("commits"), sum("submits"), sum("releases"))
		p = startServeWith(t, dir, sandboxURL, rolloutKnobs...)
		setTarget(t, &platform, p.url)
	}

	var r rolloutStatus
	waitFor(t, 4*time.Minute, "the rollout to complete after the restarts", func() bool {
		api("GET", fmt.Sprintf("/api/v1/rollouts/%d", created.ID), nil, &r)
		return r.Status == "completed" || r.Status == "failed" || r.Status == "paused"
	}, func() string { return fmt.Sprintf("rollout %+v\nthe platform's output:\n%s", r, p.output()) })
	t.Logf("%s: rollout %s", time.Since(start).Round(time.Second), r.Status)
	if r.Status != "completed" || r.Counts["released"] != n {
		t.Fatalf("rollout ended %+v", r)
	}
	counts := sbFleetCounts(t, sandboxURL)
	var commits, submits, releases int
	for _, id := range bulk.AppIDs {
		c := counts[id].Counts
		commits, submits, releases = commits+c["commits"], submits+c["submits"], releases+c["releases"]
		if c["commits"] != 1 || c["submits"] != 1 || c["releases"] != 1 {
			t.Errorf("%s: %v, want one successful commit, submit_audit and release", id, c)
		}
	}
	var calls struct {
		Calls map[string]int `json:"calls"`
	}
	sb("GET", "/sandbox/api/calls", nil, &calls)
	t.Logf("after %d kills of wxfleet serve: %d apps, %d successful commits, %d successful submit_audit, %d releases "+
		"(calls in all: commit %d, submit_audit %d, release %d, getversioninfo %d, get_latest_auditstatus %d)",
		len(kills), n, commits, submits, releases, calls.Calls["/wxa/commit"], calls.Calls["/wxa/submit_audit"],
		calls.Calls["/wxa/release"], calls.Calls["/wxa/getversioninfo"], calls.Calls["/wxa/get_latest_auditstatus"])
}

// sbFleetCounts reads every app's counters from a sandbox at sandboxURL.
func sbFleetCounts(t *testing.T, sandboxURL string) map[string]sbCounts {
	t.Helper()
	var out struct {
		Items []sbCounts `json:"items"`
	}
	if st := do(t, "GET", sandboxURL+"/sandbox/api/code/apps", nil, nil, &out); st != 200 {
		t.Fatalf("sandbox code counts: %d", st)
	}
	m := make(map[string]sbCounts, len(out.Items))
	for _, it := range out.Items {
		m[it.AppID] = it
	}
	return m
}
