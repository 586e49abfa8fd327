package web

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// TestDashboardFollowsTenRollouts: with 12 rollouts running on a platform
// the dashboard follows the first 10 live (one SSE source each) and links
// the other 2, counted, not fetched; a finished rollout is not followed.
func TestDashboardFollowsTenRollouts(t *testing.T) { storetest.Run(t, testDashboardFollowsTenRollouts) }

func testDashboardFollowsTenRollouts(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, func(s *Server) { s.Rollouts = &rollout.Service{Store: s.Store, Now: time.Now} })
	ctx := context.Background()
	now := time.Now()
	for i := range dashRollouts + 3 {
		r := &wxfleet.Rollout{ComponentAppID: testPlatform, TemplateID: 1, UserVersion: fmt.Sprintf("1.0.%d", i), UserDesc: "新版",
			Targets: wxfleet.RolloutTargets{All: true}, Release: wxfleet.ReleaseAuto, BatchSize: 10, MaxFailureRatio: 0.2,
			Status: wxfleet.RolloutRunning, CreatedAt: now, UpdatedAt: now}
		if i == 0 {
			r.Status = wxfleet.RolloutCompleted
		}
		if err := ts.st.CreateRollout(ctx, r, []string{fmt.Sprintf("wxapp%02d", i)}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, session := ts.signIn("ops@isv.example", testPassword)
	st, page := ts.call("GET", "/", nil, "Cookie", session)
	if st != 200 {
		t.Fatalf("dashboard: HTTP %d", st)
	}
	followed := regexp.MustCompile(`class="rollout-live" data-events="/rollouts/\d+/events`).FindAllString(page, -1)
	if len(followed) != dashRollouts {
		t.Errorf("the dashboard follows %d rollouts live, want %d", len(followed), dashRollouts)
	}
	if strings.Contains(page, "v1.0.0<") {
		t.Error("the completed rollout is followed")
	}
	if !strings.Contains(page, "还有 2 个进行中的发布") || !strings.Contains(page, `href="/rollouts?platform=`+testPlatform+`&amp;status=running"`) {
		t.Error("the 2 rollouts past the first 10 are not counted and linked")
	}
}
