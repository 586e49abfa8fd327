package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// The console's authorizer list shows the total on its first page, where it
// is counted, and no total (rather than a wrong one) on the pages after.
func TestAuthorizersPageTotalOnFirstPage(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	ctx := context.Background()
	for i := range 3 {
		if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: fmt.Sprintf("wxapp%d", i),
			Status: wxfleet.StatusAuthorized, Nickname: fmt.Sprintf("门店 %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, session := ts.signIn("ops@isv.example", testPassword)
	if session == "" {
		t.Fatal("no session")
	}
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.url+path, nil)
		req.Header.Set("Cookie", session)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	first := get("/authorizers")
	if !strings.Contains(first, "共 total 3") || !strings.Contains(first, "门店 0") {
		t.Fatalf("first page without its total:\n%s", first)
	}
	later := get("/authorizers?cursor=wxapp0")
	if strings.Contains(later, "共 total") || strings.Contains(later, "门店 0") || !strings.Contains(later, "门店 1") {
		t.Fatalf("a later page:\n%s", later)
	}
}
