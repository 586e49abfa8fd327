package main

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// The sandbox's bulk path authorizes a fleet to the real platform: each app's
// authorized push is received, journaled and completed with api_query_auth,
// and every app shows as authorized with a valid token. WXFLEET_BULK_N sets
// the fleet's size (default 50), to measure a larger one:
//
//	WXFLEET_BULK_N=10000 go test -run TestBulkAuthorizesFleetOnPlatform -v ./cmd/wxfleet/ | grep bulk_test
func TestBulkAuthorizesFleetOnPlatform(t *testing.T) {
	d := bootDemo(t)
	n := 50
	if v := os.Getenv("WXFLEET_BULK_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	var res struct {
		AppIDs       []string `json:"appids"`
		Created      int      `json:"created"`
		Authorized   int      `json:"authorized"`
		PushFailures int      `json:"push_failures"`
		CreateMillis int64    `json:"create_ms"`
		AuthMillis   int64    `json:"authorize_ms"`
	}
	start := time.Now()
	if st := d.sandbox("POST", "/sandbox/api/apps/bulk", map[string]any{"count": n, "authorize": true}, &res); st != 200 {
		t.Fatalf("bulk: HTTP %d", st)
	}
	if res.Created != n || res.Authorized != n || res.PushFailures != 0 || len(res.AppIDs) != n {
		t.Fatalf("bulk answer: %+v", res)
	}
	want := map[string]bool{}
	for _, id := range res.AppIDs {
		want[id] = true
	}
	deadline := time.Now().Add(30*time.Second + time.Duration(n)*20*time.Millisecond)
	for {
		var list struct {
			Total int `json:"total"`
		}
		d.api("GET", "/api/v1/authorizers?status=authorized&limit=1", nil, &list)
		if list.Total >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bulk apps authorized on the platform by the deadline", list.Total, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d apps: created in %d ms; all authorized on the platform %s after the call (the sandbox's pushes took %d ms)",
		n, res.CreateMillis, time.Since(start).Round(time.Millisecond), res.AuthMillis)
	// Status, nickname and token may land a moment apart: poll for all of them.
	var bad apiAuthorizer
	for ok := 0; ok != n; {
		ok, bad = d.completeBulkApps(want)
		if ok != n && time.Now().After(deadline) {
			t.Fatalf("%d of %d bulk apps are authorized with a valid token, a nickname and permissions; e.g. %+v", ok, n, bad)
		}
		if ok != n {
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The platform read each app's info after exchanging its code.
	var calls struct {
		Items []struct {
			AppID   string `json:"appid"`
			Errcode int    `json:"errcode"`
			Count   int    `json:"count"`
		} `json:"items"`
	}
	for _, path := range []string{"/cgi-bin/component/api_query_auth", "/cgi-bin/component/api_get_authorizer_info"} {
		d.sandbox("GET", "/sandbox/api/calls?path="+path+"&by=appid", nil, &calls)
		seen, extra := map[string]int{}, 0
		for _, c := range calls.Items {
			if c.Errcode == 0 {
				seen[c.AppID] += c.Count
			}
		}
		for id := range want {
			if seen[id] == 0 {
				t.Errorf("the platform never called %s for %s", path, id)
			}
			extra += max(seen[id]-1, 0)
		}
		t.Logf("%s: %d calls beyond one per app", path, extra)
	}
}

// completeBulkApps pages through the platform's authorizers and counts the
// apps of want that are fully authorized; it returns one that is not.
func (d *testDemo) completeBulkApps(want map[string]bool) (ok int, bad apiAuthorizer) {
	cursor := ""
	for {
		var list struct {
			Items      []apiAuthorizer `json:"items"`
			NextCursor string          `json:"next_cursor"`
		}
		d.api("GET", "/api/v1/authorizers?limit=500&cursor="+cursor, nil, &list)
		for _, a := range list.Items {
			switch {
			case !want[a.AppID]:
			case a.Status == "authorized" && a.TokenState == "valid" && a.Nickname != "" && len(a.Permissions) > 0:
				ok++
			default:
				bad = a
			}
		}
		if cursor = list.NextCursor; cursor == "" {
			return ok, bad
		}
	}
}
