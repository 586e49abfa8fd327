package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wxfleet/wxfleet/wechat"
)

// Forwarding 100 distinct paths adds one metric label ("other"), not 100:
// the label comes from a fixed list.
func TestForwardedPathsDoNotGrowMetricLabels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"errcode":0,"pre_auth_code":"p","expires_in":600}`)
	}))
	t.Cleanup(srv.Close)
	m := New()
	c := wechat.New(wechat.Options{Hosts: wechat.SingleHost(srv.URL), Observe: m.ObserveWeChat})
	ctx := context.Background()
	for i := range 100 {
		if _, err := c.Forward(ctx, wechat.StaticToken("T"), http.MethodGet, fmt.Sprintf("/cgi-bin/junk/%d", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Forward(ctx, wechat.StaticToken("T"), http.MethodPost, "/wxa/getwxacodeunlimit", nil, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePreAuthCode(ctx, wechat.StaticToken("T"), "wxc"); err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() != "wxfleet_wechat_calls_total" {
			continue
		}
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "path" {
					labels[l.GetValue()] = true
				}
			}
		}
	}
	want := map[string]bool{"other": true, "/wxa/getwxacodeunlimit": true, "/cgi-bin/component/api_create_preauthcode": true}
	if len(labels) != len(want) {
		t.Fatalf("path labels %v, want %v", labels, want)
	}
	for l := range want {
		if !labels[l] {
			t.Fatalf("path labels %v, want %v", labels, want)
		}
	}
}
