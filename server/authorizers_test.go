package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// GET /api/v1/authorizers counts every match (total) on the first page,
// where clients show it; later pages skip the COUNT(*) unless asked with
// total=true, and total=false skips it on the first page too.
func TestAuthorizerListTotalIsOptional(t *testing.T) {
	srv := boot(t, storetest.SQLite)
	ctx := context.Background()
	for i := range 5 {
		if err := srv.Store.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testAppID, AppID: fmt.Sprintf("wxapp%d", i),
			Status: wxfleet.StatusAuthorized, AuthorizedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	type page struct {
		Items      []map[string]any `json:"items"`
		Total      *int             `json:"total"`
		NextCursor string           `json:"next_cursor"`
	}
	var first page
	getJSON(t, srv, "/api/v1/authorizers?limit=2", &first)
	if len(first.Items) != 2 || first.Total == nil || *first.Total != 5 || first.NextCursor != "wxapp1" {
		t.Fatalf("first page: %d items, total %v, next %q", len(first.Items), first.Total, first.NextCursor)
	}
	var second page
	getJSON(t, srv, "/api/v1/authorizers?limit=2&cursor="+first.NextCursor, &second)
	if len(second.Items) != 2 || second.Total != nil || second.Items[0]["appid"] != "wxapp2" {
		t.Fatalf("second page: %+v, total %v (want no total)", second.Items, second.Total)
	}
	var asked page
	getJSON(t, srv, "/api/v1/authorizers?limit=2&total=true&cursor="+first.NextCursor, &asked)
	if len(asked.Items) != 2 || asked.Total == nil || *asked.Total != 5 {
		t.Fatalf("second page with total=true: %d items, total %v", len(asked.Items), asked.Total)
	}
	var skipped page
	getJSON(t, srv, "/api/v1/authorizers?limit=2&total=false", &skipped)
	if len(skipped.Items) != 2 || skipped.Total != nil {
		t.Fatalf("first page with total=false: %d items, total %v", len(skipped.Items), skipped.Total)
	}
	var filtered page
	getJSON(t, srv, "/api/v1/authorizers?status=revoked", &filtered)
	if filtered.Total == nil || *filtered.Total != 0 || len(filtered.Items) != 0 {
		t.Fatalf("revoked: %d items, total %v", len(filtered.Items), filtered.Total)
	}
	if resp := do(t, "GET", srv.URL()+"/api/v1/authorizers?total=maybe", nil, "Authorization", "Bearer "+testAdmin); resp.StatusCode != 400 {
		t.Fatalf("total=maybe: %d, want 400", resp.StatusCode)
	}
}
