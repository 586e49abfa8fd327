package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// Forwarding refuses paths that climb out of WeChat's API (dot segments,
// encoded slashes) or lie outside it (the sandbox's control API): nothing of
// them reaches the WeChat host. WeChat here is a recorder at the edge.
func TestForwardRefusesPathsOutsideWeChatsAPI(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	wx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cgi-bin/component/api_start_push_ticket" { // the server's own call at start
			mu.Lock()
			seen = append(seen, r.URL.EscapedPath())
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"errcode":0}`))
	}))
	defer wx.Close()
	srv := bootWith(t, storetest.SQLite, func(cfg *Config) { cfg.WeChatURL = wx.URL })
	ctx := context.Background()
	if err := srv.Store.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testAppID, AppID: "wxapp1", Status: wxfleet.StatusAuthorized,
		AccessToken: "AT", RefreshToken: "RT", TokenExpiresAt: time.Now().Add(time.Hour), AuthorizedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	base := srv.URL() + "/api/v1/authorizers/wxapp1/wechat/"
	for _, p := range []string{
		"cgi-bin/..%2F..%2Fsandbox/api/apps/wxapp2",
		"cgi-bin/..%2fsandbox/api/apps",
		"wxa/%2E%2E/%2E%2E/sandbox/api/apps",
		"sandbox/api/apps/wxapp2",
		"cgi-bin%2F..%2Fsandbox",
		"wxa/x%5C..%5Cy",
		"api/v1/authorizers",
	} {
		resp := do(t, "GET", base+p, nil, "Authorization", "Bearer "+testAdmin)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: %d, want refused", p, resp.StatusCode)
		}
	}
	mu.Lock()
	if len(seen) != 0 {
		t.Errorf("reached WeChat: %v", seen)
	}
	mu.Unlock()
	if resp := do(t, "GET", base+"wxa/get_category", nil, "Authorization", "Bearer "+testAdmin); resp.StatusCode != 200 {
		t.Fatalf("a WeChat API path: %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "/wxa/get_category" {
		t.Fatalf("WeChat saw %v", seen)
	}
}
