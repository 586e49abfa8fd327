package main

import (
	"fmt"
	"testing"
)

// WeChat releases a gray release fully on its 15th day. After the sandbox
// clock passes that day the platform sees the app fully released: a dry run
// no longer skips it for a gray release in progress, and rolling the gray
// rollout back reverts the release (revertcoderelease) instead of a gray
// release that is no more.
func TestGrayReleaseFinishedByWeChatAfter15Days(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOne()
	d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1s"}, nil)
	only := map[string][]string{"appids": {app}}
	var first rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": d.makeTemplate("1.0.0", `{}`), "targets": only}, &first); st != 201 {
		t.Fatalf("first rollout: %d", st)
	}
	d.waitRollout(first.ID, "completed")
	var gray rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": d.makeTemplate("2.0.0", `{}`), "targets": only, "gray_percentage": 10}, &gray); st != 201 {
		t.Fatalf("gray rollout: %d", st)
	}
	if r := d.waitRollout(gray.ID, "completed"); r.Counts["released"] != 1 {
		t.Fatalf("gray rollout: %+v", r)
	}
	if c := d.appCode(app); c.Gray == nil || c.Gray.Percentage != 10 || c.Released == nil || c.Released.UserVersion != "1.0.0" {
		t.Fatalf("during the gray release: %+v", c)
	}
	next := d.makeTemplate("3.0.0", `{}`)
	dryRun := func() (action, reason string) {
		t.Helper()
		var plan struct {
			Items []struct{ AppID, Action, Reason string } `json:"items"`
		}
		if st := d.api("POST", "/api/v1/rollouts", map[string]any{"dry_run": true, "template_id": next, "targets": only}, &plan); st != 200 || len(plan.Items) != 1 {
			t.Fatalf("dry run: %d %+v", st, plan)
		}
		return plan.Items[0].Action, plan.Items[0].Reason
	}
	if action, reason := dryRun(); action != "skip" {
		t.Fatalf("dry run during the gray release: %s %q, want skip", action, reason)
	}

	if st := d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "361h"}, nil); st != 200 {
		t.Fatalf("clock: %d", st)
	}
	if c := d.appCode(app); c.Released == nil || c.Released.UserVersion != "2.0.0" {
		t.Fatalf("after 15 days the sandbox runs %+v, want 2.0.0 fully released", c.Released)
	}
	if action, reason := dryRun(); action != "commit" {
		t.Fatalf("dry run after WeChat released the gray version fully: %s %q, want commit", action, reason)
	}
	if st := d.api("POST", fmt.Sprintf("/api/v1/rollouts/%d/rollback", gray.ID), map[string]any{}, nil); st != 200 {
		t.Fatalf("rollback: %d", st)
	}
	d.eventually("the rollback", func() bool {
		var r rolloutStatus // fresh each time
		d.api("GET", fmt.Sprintf("/api/v1/rollouts/%d", gray.ID), nil, &r)
		return r.Counts["rolled_back"] == 1
	})
	if c := d.appCode(app); c.Released == nil || c.Released.UserVersion != "1.0.0" || c.Counts["rollbacks"] != 1 {
		t.Fatalf("after the rollback: released %+v, counts %v; want 1.0.0 back through revertcoderelease", c.Released, c.Counts)
	}
}
