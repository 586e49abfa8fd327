package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// TestRolloutsPageFiltersAndPages: /rollouts shows 50 rollouts a page,
// newest first, the next page without repeats; its status and template
// filters (the API's too) show only what they select; a bad filter is
// refused in words; the page links the new-rollout form.
func TestRolloutsPageFiltersAndPages(t *testing.T) { storetest.Run(t, testRolloutsPageFiltersAndPages) }

func testRolloutsPageFiltersAndPages(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, func(s *Server) { s.Rollouts = &rollout.Service{Store: s.Store, Now: time.Now} })
	ctx := context.Background()
	now := time.Now()
	const n = rolloutsPageSize + 5
	var ids []int64
	for i := range n {
		r := &wxfleet.Rollout{ComponentAppID: testPlatform, TemplateID: 1, UserVersion: fmt.Sprintf("1.0.%d", i), UserDesc: "新版",
			Targets: wxfleet.RolloutTargets{All: true}, Release: wxfleet.ReleaseAuto, BatchSize: 10, MaxFailureRatio: 0.2,
			Status: wxfleet.RolloutCompleted, CreatedAt: now, UpdatedAt: now}
		switch {
		case i%10 == 3:
			r.Status = wxfleet.RolloutPaused
		case i == n-1:
			r.TemplateID = 2
		}
		if err := ts.st.CreateRollout(ctx, r, []string{fmt.Sprintf("wxapp%02d", i)}, nil, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, session := ts.signIn("ops@isv.example", testPassword)
	rowRE := regexp.MustCompile(`<tr data-id="(\d+)">`)
	rows := func(page string) []string {
		var out []string
		for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out
	}
	get := func(path string) (int, string) {
		t.Helper()
		return ts.call("GET", path, nil, "Cookie", session)
	}

	st, page := get("/rollouts")
	if st != http.StatusOK {
		t.Fatalf("GET /rollouts: %d", st)
	}
	first := rows(page)
	if len(first) != rolloutsPageSize || first[0] != itoa(ids[n-1]) {
		t.Fatalf("first page: %d rows starting %v, want %d starting with the newest %d", len(first), first[:1], rolloutsPageSize, ids[n-1])
	}
	if !strings.Contains(page, `id="new-rollout" href="/rollouts/new?platform=`+testPlatform+`"`) {
		t.Error("the list does not link the new-rollout form")
	}
	next := regexp.MustCompile(`id="rollouts-next" href="([^"]+)"`).FindStringSubmatch(page)
	if next == nil {
		t.Fatal("no next page link on a full page")
	}
	_, page = get("/rollouts" + strings.ReplaceAll(next[1], "&amp;", "&"))
	second := rows(page)
	if len(second) != n-rolloutsPageSize || strings.Contains(page, `id="rollouts-next"`) {
		t.Fatalf("second page: %d rows, want %d and no next link", len(second), n-rolloutsPageSize)
	}
	seen := map[string]bool{}
	for _, id := range append(first, second...) {
		if seen[id] {
			t.Fatalf("rollout %s shown on both pages", id)
		}
		seen[id] = true
	}

	// The status filter: the paused ones only, the choice kept.
	_, page = get("/rollouts?status=paused")
	paused := rows(page)
	if len(paused) != 6 || !strings.Contains(page, `<option value="paused" selected>`) {
		t.Fatalf("status=paused: %d rows, want 6 with the choice kept", len(paused))
	}
	for _, id := range paused {
		if ro, err := ts.st.Rollout(ctx, testPlatform, parseID(t, id)); err != nil || ro.Status != wxfleet.RolloutPaused {
			t.Errorf("status=paused lists rollout %s: %+v %v", id, ro, err)
		}
	}
	if _, page = get("/rollouts?template_id=2"); fmt.Sprint(rows(page)) != fmt.Sprint([]string{itoa(ids[n-1])}) {
		t.Errorf("template_id=2: %v, want only %d", rows(page), ids[n-1])
	}
	if _, page = get("/rollouts?status=cancelled"); len(rows(page)) != 0 || !strings.Contains(page, "没有符合筛选的发布任务") {
		t.Error("an empty filtered list does not say so")
	}
	if st, page := get("/rollouts?status=nonsense"); st != http.StatusBadRequest || !strings.Contains(page, "unknown rollout status") {
		t.Errorf("a bad status: %d, want 400 in words", st)
	}

	// The API takes the same filters.
	st, body := ts.call("GET", "/api/v1/rollouts?status=paused&limit=100", nil, "Authorization", "Bearer "+testAdminToken)
	var list struct {
		Items []struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &list); st != http.StatusOK || err != nil || len(list.Items) != 6 {
		t.Fatalf("API status=paused: %d %v %d items", st, err, len(list.Items))
	}
	if st, _ := ts.call("GET", "/api/v1/rollouts?template_id=x", nil, "Authorization", "Bearer "+testAdminToken); st != http.StatusBadRequest {
		t.Errorf("API template_id=x: %d, want 400", st)
	}
}

func parseID(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
