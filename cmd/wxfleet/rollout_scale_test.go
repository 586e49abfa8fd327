package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/server"
)

// fleetOptions are the demo's rollout timings shortened for a fleet under
// faults: a client timeout the latency faults exceed, quick retries and quota
// waits, a settle time a few seconds long and a quick audit poll.
func fleetOptions(o *demoOptions) {
	o.RolloutRetryBase, o.RolloutQuotaWait, o.WeChatTimeout = 200*time.Millisecond, 300*time.Millisecond, time.Second
	o.RolloutSettleTime = 3 * time.Second
	o.AuditPollInterval = 500 * time.Millisecond
}

// bulkFleet creates and authorizes n mini programs through the sandbox's
// bulk path and waits until the platform has them all; it returns their
// appids in the order a rollout's cohorts take them.
func (d *testDemo) bulkFleet(n int) []string {
	d.t.Helper()
	var res struct {
		AppIDs     []string `json:"appids"`
		Authorized int      `json:"authorized"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/bulk", map[string]any{"count": n, "authorize": true}, &res); st != 200 || res.Authorized != n {
		d.t.Fatalf("bulk: HTTP %d, %d of %d authorized", st, res.Authorized, n)
	}
	want := map[string]bool{}
	for _, id := range res.AppIDs {
		want[id] = true
	}
	// Generous: a shared machine under load takes minutes for what takes seconds alone.
	deadline := time.Now().Add(4*time.Minute + time.Duration(n)*200*time.Millisecond)
	for {
		ok, bad := d.completeBulkApps(want)
		if ok == n {
			break
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%d of %d bulk apps authorized on the platform; e.g. %+v", ok, n, bad)
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(res.AppIDs)
	return res.AppIDs
}

// sbCounts is one app's line in GET /sandbox/api/code/apps.
type sbCounts struct {
	AppID    string         `json:"appid"`
	Counts   map[string]int `json:"counts"`
	Released string         `json:"released_version"`
}

// fleetCounts is every app's successful code calls, as the sandbox counted them.
func (d *testDemo) fleetCounts() map[string]sbCounts {
	d.t.Helper()
	return sbFleetCounts(d.t, d.SandboxURL)
}

// waitRolloutFor is waitRollout with a deadline of its own (a fleet takes longer).
func (d *testDemo) waitRolloutFor(limit time.Duration, id int64, want ...string) rolloutStatus {
	d.t.Helper()
	var r rolloutStatus
	deadline := time.Now().Add(limit)
	for {
		d.api("GET", fmt.Sprintf("/api/v1/rollouts/%d", id), nil, &r)
		if slices.Contains(want, r.Status) {
			return r
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("rollout %d is %s after %s, want %v: %+v; failed apps %+v", id, r.Status, limit, want, r, d.rolloutApps(id, "failed"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A rollout to 200 mini programs with auto release, while a fifth of the
// calls to commit, submit_audit, get_auditstatus and release fail — "system
// busy" (-1), the daily quota (45009), answers slower than the client waits
// (timeouts) and answers lost after WeChat acted — and half the audit pushes
// are lost. Five apps carry a word the reviewers refuse: they are rejected
// and reported with WeChat's reason. Ten apps of the second (last) cohort of
// 100 are refused their commit for good: its failure ratio passes the limit and
// the rollout pauses, saying why; retry-failed and resume finish it. In the
// end every other app is committed, submitted and released exactly once, by
// the sandbox's own count.
func TestRolloutFleetUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a rollout to 200 mini programs")
	}
	// In parallel with the other long tests that wait much of their time
	// (the kill, drain and PostgreSQL tests).
	t.Parallel()
	rolloutFleetUnderFaults(t, bootDemoWith(t, fleetOptions))
}

// fleetFaults are the random faults of the fleet test: a fifth of the calls
// on each path, spread over the kinds of failure.
var fleetFaults = []map[string]any{
	{"path": "/wxa/commit", "errcode": -1, "rate": 0.05},
	{"path": "/wxa/commit", "errcode": 45009, "rate": 0.05},
	{"path": "/wxa/commit", "latency": "1500ms", "rate": 0.05},
	{"path": "/wxa/commit", "lose_answer": true, "rate": 0.05},
	{"path": "/wxa/submit_audit", "errcode": -1, "rate": 0.05},
	{"path": "/wxa/submit_audit", "errcode": 45009, "rate": 0.05},
	{"path": "/wxa/submit_audit", "latency": "1500ms", "rate": 0.05},
	{"path": "/wxa/submit_audit", "lose_answer": true, "rate": 0.05},
	{"path": "/wxa/get_auditstatus", "errcode": -1, "rate": 0.1},
	{"path": "/wxa/get_auditstatus", "latency": "1500ms", "rate": 0.1},
	{"path": "/wxa/release", "errcode": -1, "rate": 0.05},
	{"path": "/wxa/release", "errcode": 45009, "rate": 0.05},
	{"path": "/wxa/release", "latency": "1500ms", "rate": 0.05},
	{"path": "/wxa/release", "lose_answer": true, "rate": 0.05},
}

func rolloutFleetUnderFaults(t *testing.T, d *testDemo) {
	const n, batch = 200, 100
	start := time.Now()
	apps := d.bulkFleet(n)
	t.Logf("%d apps authorized in %s", n, time.Since(start).Round(time.Millisecond))
	// Rejected: three in the first cohort (under the 10 % limit alone), two in the second.
	rejected := []string{apps[7], apps[33], apps[57], apps[107], apps[157]}
	// Refused for good: ten of the second cohort (with its rejections, 12 of 100).
	refused := apps[160:170]
	if st := d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "500ms", "lose_push_rate": 0.5, "reject_words": rejected}, nil); st != 200 {
		t.Fatalf("audit rules: %d", st)
	}
	// The ext_json holds the appid (extAppid), so an appid as reject word rejects that app.
	tmpl := d.makeTemplate("3.0.0", `{"ext":{"fleet":true}}`)
	// First in the list, so that a refused app's first commit is refused
	// (a random fault could carry it out): once per app, then it is gone.
	if st := d.sandbox("POST", "/sandbox/api/faults", map[string]any{"path": "/wxa/commit", "errcode": 85013, "appids": refused, "count": len(refused)}, nil); st != 200 && st != 201 {
		t.Fatalf("refusal fault: %d", st)
	}
	for _, f := range fleetFaults {
		if st := d.sandbox("POST", "/sandbox/api/faults", f, nil); st != 200 && st != 201 {
			t.Fatalf("fault %v: %d", f, st)
		}
	}
	var created rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl, "targets": map[string]bool{"all": true},
		"batch_size": batch, "max_failure_ratio": 0.1}, &created); st != 201 {
		t.Fatalf("create rollout: %d", st)
	}
	rolloutStart := time.Now()
	r := d.waitRolloutFor(5*time.Minute, created.ID, "paused", "completed", "failed")
	if r.Status != "paused" || r.Cohort != 1 || !strings.Contains(r.StatusReason, "cohort 2: 12 of 100") {
		t.Fatalf("want the rollout paused at the last cohort for 11 failures of 50, got %+v; failed %+v", r, d.rolloutApps(created.ID, "failed"))
	}
	failed := d.rolloutApps(created.ID, "failed")
	var failedIDs []string
	for _, a := range failed {
		failedIDs = append(failedIDs, a.AppID)
		if a.LastErrcode != 85013 {
			t.Errorf("failed app %s: last errcode %d (%s), want WeChat's 85013", a.AppID, a.LastErrcode, a.LastError)
		}
	}
	slices.Sort(failedIDs)
	if !slices.Equal(failedIDs, refused) {
		t.Fatalf("failed apps %v, want the refused %v", failedIDs, refused)
	}
	t.Logf("paused after %s: %s", time.Since(rolloutStart).Round(time.Millisecond), r.StatusReason)

	if st := d.api("POST", fmt.Sprintf("/api/v1/rollouts/%d/retry-failed", created.ID), map[string]any{}, nil); st != 200 {
		t.Fatalf("retry-failed: %d", st)
	}
	if st := d.api("POST", fmt.Sprintf("/api/v1/rollouts/%d/resume", created.ID), map[string]any{}, nil); st != 200 {
		t.Fatalf("resume: %d", st)
	}
	r = d.waitRolloutFor(5*time.Minute, created.ID, "completed", "failed")
	if r.Status != "completed" || r.Counts["released"] != n-len(rejected) || r.Counts["rejected"] != len(rejected) || r.Counts["total"] != n {
		t.Fatalf("rollout ended %+v", r)
	}
	t.Logf("completed %s after the start: %v", time.Since(rolloutStart).Round(time.Millisecond), r.Counts)

	// Rejected apps carry WeChat's reason, word for word.
	rej := d.rolloutApps(created.ID, "rejected")
	if len(rej) != len(rejected) {
		t.Fatalf("rejected apps: %+v", rej)
	}
	for _, a := range rej {
		if !slices.Contains(rejected, a.AppID) {
			t.Errorf("%s rejected, not one of %v", a.AppID, rejected)
			continue
		}
		c := d.appCode(a.AppID)
		var wechat string
		if c.Latest != nil {
			wechat = c.Latest.Reason
		}
		if a.Reason == "" || a.Reason != wechat || !strings.Contains(a.Reason, a.AppID) || a.ScreenShot == "" {
			t.Errorf("rejected %s: reason %q, screenshot %q; WeChat's reason %q", a.AppID, a.Reason, a.ScreenShot, wechat)
		}
	}

	counts := d.fleetCounts()
	for _, id := range apps {
		c := counts[id].Counts
		want := map[string]int{"commits": 1, "submits": 1, "releases": 1}
		if slices.Contains(rejected, id) {
			want["releases"] = 0
		}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("%s: %s = %d, want %d (counts %v)", id, k, c[k], v, c)
			}
		}
		if want["releases"] == 1 && counts[id].Released != "3.0.0" {
			t.Errorf("%s runs %q, want 3.0.0", id, counts[id].Released)
		}
	}
	// The faults fired: more calls than apps on every path they were on.
	var calls struct {
		Items []struct {
			Path    string `json:"path"`
			Errcode int    `json:"errcode"`
			Count   int    `json:"count"`
		} `json:"items"`
		Calls map[string]int `json:"calls"`
	}
	d.sandbox("GET", "/sandbox/api/calls", nil, &calls)
	for _, p := range []string{"/wxa/commit", "/wxa/submit_audit", "/wxa/release"} {
		if calls.Calls[p] <= n-len(rejected) {
			t.Errorf("%s: %d calls for %d apps: the faults did not fire", p, calls.Calls[p], n)
		}
	}
	var summary []string
	for _, it := range calls.Items {
		if strings.HasPrefix(it.Path, "/wxa/") {
			summary = append(summary, fmt.Sprintf("%s %d×%d", strings.TrimPrefix(it.Path, "/wxa/"), it.Errcode, it.Count))
		}
	}
	slices.Sort(summary)
	t.Logf("WeChat's calls by errcode: %s", strings.Join(summary, ", "))
}

// stepsOn is how many rollout steps an instance moved an app on
// (wxfleet_rollout_steps_total{step="move"}), read from its registry.
func stepsOn(t *testing.T, s *server.Server) int {
	t.Helper()
	mfs, err := s.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, mf := range mfs {
		if mf.GetName() != "wxfleet_rollout_steps_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "step" && l.GetValue() == "move" {
					total += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return total
}
