package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// authorize waits for the platform's ticket, then creates n mini programs in
// the sandbox, authorized through its pushes, and waits until the platform
// has every one of them.
func (f *fleet) authorize(ctx context.Context, n int) error {
	err := poll(ctx, 100*time.Millisecond, "a component_verify_ticket", func() (bool, error) {
		var out struct {
			Items []struct {
				TicketValid bool `json:"ticket_valid"`
			} `json:"items"`
		}
		err := f.call(ctx, "GET", "/api/v1/platforms", nil, &out, http.StatusOK)
		return err == nil && len(out.Items) == 1 && out.Items[0].TicketValid, err
	})
	if err != nil {
		return err
	}
	var bulk struct {
		Authorized int `json:"authorized"`
	}
	if err := f.call(ctx, "POST", "/sandbox/api/apps/bulk", map[string]any{"count": n, "authorize": true}, &bulk, http.StatusOK); err != nil {
		return err
	}
	if bulk.Authorized != n {
		return fmt.Errorf("the sandbox authorized %d of %d", bulk.Authorized, n)
	}
	return poll(ctx, 500*time.Millisecond, "the platform to have every app", func() (bool, error) {
		var list struct {
			Total int `json:"total"`
		}
		err := f.call(ctx, "GET", "/api/v1/authorizers?status=authorized&limit=1", nil, &list, http.StatusOK)
		return list.Total >= n, err
	})
}

// rolloutSample is one look at the rollout and at WeChat's call counts.
type rolloutSample struct {
	at       time.Duration
	calls    map[string]int
	total    int // calls to /wxa/
	released int
}

// rollout makes a template and rolls it out to every authorized app, then
// samples progress until the rollout ends.
func (f *fleet) rollout(ctx context.Context, s RolloutSettings, stderr io.Writer) ([]rolloutSample, error) {
	if err := f.call(ctx, "POST", "/sandbox/api/audit-rules", map[string]any{"delay": s.AuditDelay.String()}, nil, http.StatusOK); err != nil {
		return nil, err
	}
	var draft struct {
		DraftID int64 `json:"draft_id"`
	}
	if err := f.call(ctx, "POST", "/sandbox/api/drafts", map[string]any{"user_version": "1.0.0", "user_desc": "wxload rollout",
		"pages": []string{"pages/index/index"}}, &draft, http.StatusOK); err != nil {
		return nil, err
	}
	var tmpl struct {
		TemplateID int64 `json:"template_id"`
	}
	if err := f.call(ctx, "POST", "/api/v1/templates", map[string]any{"draft_id": draft.DraftID, "ext_json": `{"ext":{"shop":"${appid}"}}`}, &tmpl, http.StatusCreated); err != nil {
		return nil, err
	}
	// Count only the rollout's calls.
	if err := f.call(ctx, "DELETE", "/sandbox/api/calls", nil, nil, http.StatusOK); err != nil {
		return nil, err
	}
	var created struct {
		ID int64 `json:"id"`
	}
	start := time.Now()
	if err := f.call(ctx, "POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl.TemplateID, "targets": map[string]bool{"all": true},
		"batch_size": s.Batch, "max_failure_ratio": 0.5}, &created, http.StatusCreated); err != nil {
		return nil, err
	}
	var samples []rolloutSample
	lastPrint := time.Now()
	err := poll(ctx, 500*time.Millisecond, "the rollout to end", func() (bool, error) {
		var r struct {
			Status string         `json:"status"`
			Reason string         `json:"status_reason"`
			Counts map[string]int `json:"counts"`
		}
		var calls struct {
			Calls map[string]int `json:"calls"`
		}
		if err := f.call(ctx, "GET", fmt.Sprintf("/api/v1/rollouts/%d", created.ID), nil, &r, http.StatusOK); err != nil {
			return false, err
		}
		if err := f.call(ctx, "GET", "/sandbox/api/calls", nil, &calls, http.StatusOK); err != nil {
			return false, err
		}
		sm := rolloutSample{at: time.Since(start), calls: calls.Calls, released: r.Counts["released"]}
		for p, n := range calls.Calls {
			if strings.HasPrefix(p, "/wxa/") {
				sm.total += n
			}
		}
		samples = append(samples, sm)
		if time.Since(lastPrint) >= 10*time.Second {
			lastPrint = time.Now()
			fmt.Fprintf(stderr, "  %5.0fs  %d of %d released, %d calls\n", sm.at.Seconds(), sm.released, s.Apps, sm.total)
		}
		switch r.Status {
		case "completed":
			return true, nil
		case "paused", "failed", "cancelled":
			return false, fmt.Errorf("the rollout is %s: %s %v", r.Status, r.Reason, r.Counts)
		}
		return false, nil
	})
	return samples, err
}

// checkOnce counts the apps the sandbox did not see committed, submitted and
// released exactly once.
func (f *fleet) checkOnce(ctx context.Context, n int) (int, error) {
	var out struct {
		Items []struct {
			Counts map[string]int `json:"counts"`
		} `json:"items"`
	}
	if err := f.call(ctx, "GET", "/sandbox/api/code/apps", nil, &out, http.StatusOK); err != nil {
		return 0, err
	}
	bad := max(n-len(out.Items), 0) // never called at all
	for _, it := range out.Items {
		if it.Counts["commits"] != 1 || it.Counts["submits"] != 1 || it.Counts["releases"] != 1 {
			bad++
		}
	}
	return bad, nil
}
