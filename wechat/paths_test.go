package wechat

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Forwarding 100 distinct paths adds one metric label ("other"), not 100:
// the label comes from a fixed list.
func TestForwardedPathsDoNotGrowMetricLabels(t *testing.T) {
	f := newFake(t, answer(`{"errcode":0,"pre_auth_code":"p","expires_in":600}`))
	var mu sync.Mutex
	labels := map[string]bool{} // what the metrics hook (metrics.ObserveWeChat) is handed as the path label
	c, _, _ := newClient(f.srv.URL, Options{Observe: func(path string, _ int, _ time.Duration) {
		mu.Lock()
		labels[path] = true
		mu.Unlock()
	}})
	ctx := context.Background()
	for i := range 100 {
		if _, err := c.Forward(ctx, StaticToken("T"), http.MethodGet, fmt.Sprintf("/cgi-bin/junk/%d", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Forward(ctx, StaticToken("T"), http.MethodPost, "/wxa/getwxacodeunlimit", nil, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePreAuthCode(ctx, StaticToken("T"), "wxc"); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"other": true, "/wxa/getwxacodeunlimit": true, pathCreatePreAuthCode: true}
	if len(labels) != len(want) {
		t.Fatalf("path labels %v, want %v", labels, want)
	}
	for l := range want {
		if !labels[l] {
			t.Fatalf("path labels %v, want %v", labels, want)
		}
	}
}

func TestUnderAPIPrefix(t *testing.T) {
	for path, want := range map[string]bool{
		"/cgi-bin/component/api_query_auth": true, "/wxa/commit": true, "/sns/jscode2session": true, "/datacube/x": true,
		"/sandbox/api/apps/wx1": false, "/cgi-bin": false, "/": false, "/wxa": false, "/api/v1/authorizers": false,
	} {
		if got := UnderAPIPrefix(path); got != want {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
}
