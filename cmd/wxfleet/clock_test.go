package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/web"
)

// authorizeOne authorizes the demo's first mini program to the platform and
// waits until the platform has it.
func (d *testDemo) authorizeOne() string {
	d.t.Helper()
	app := d.miniPrograms()[0].AppID
	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link)
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": app}, nil); st != 200 {
		d.t.Fatalf("authorize: HTTP %d", st)
	}
	d.eventually("authorized", func() bool {
		a, st := d.authorizer(app)
		return st == 200 && a.Status == "authorized" && a.TokenExpiresAt != ""
	})
	return app
}

// After the sandbox clock moves 49 hours, the platform keeps working as it
// would after 49 real hours: the ticket WeChat would have pushed meanwhile
// arrived, so the expired tokens are fetched again and a forwarded call
// succeeds.
func TestClockMoveKeepsThePlatformWorking(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOne()
	if st := d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "49h"}, nil); st != 200 {
		t.Fatalf("clock: HTTP %d", st)
	}
	var out map[string]any
	if st := d.api("GET", "/api/v1/authorizers/"+app+"/wechat/wxa/get_category", nil, &out); st != http.StatusOK || out["errcode"] != 0.0 || out["category_list"] == nil {
		t.Fatalf("forward after 49 h: HTTP %d %v", st, out)
	}
}

// When WeChat refuses the platform's own token calls, the forward's error
// names the API that failed and WeChat's errcode.
func TestForwardErrorNamesTheAPIAndErrcode(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOne()
	d.sandbox("POST", "/sandbox/api/faults", map[string]any{"path": "/cgi-bin/component/api_component_token", "errcode": 61006}, nil)
	d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "3h"}, nil) // every token expired
	var out web.ErrorBody
	st := d.api("GET", "/api/v1/authorizers/"+app+"/wechat/wxa/get_category", nil, &out)
	if st < 400 || !strings.Contains(out.MessageEN, "/cgi-bin/component/api_component_token") || !strings.Contains(out.MessageEN, "61006") {
		t.Fatalf("forward with api_component_token refused: HTTP %d %+v, want the API and errcode 61006 named", st, out)
	}
	t.Logf("HTTP %d: %s / %s", st, out.Message, out.MessageEN)
}

// The sandbox checks the token on paths it does not emulate too, so the
// platform's refresh-and-retry can be tried on any path: the expired token
// is answered 42001, the platform refreshes it once and retries, and the
// retry gets the sandbox's plain "not emulated" answer.
func TestForwardRefreshesOnAPathTheSandboxDoesNotEmulate(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOne()
	d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "3h"}, nil) // the authorizer's token expired
	d.sandbox("DELETE", "/sandbox/api/calls", nil, nil)
	const path = "/wxa/getwxacodeunlimit"
	var out map[string]any
	st := d.api("POST", "/api/v1/authorizers/"+app+"/wechat"+path, map[string]any{"scene": "a=1"}, &out)
	if st != http.StatusNotFound || out["errcode"] != -1.0 || !strings.Contains(out["errmsg"].(string), "not emulated") {
		t.Fatalf("forward: HTTP %d %v, want the sandbox's not-emulated answer after a refresh", st, out)
	}
	var calls struct {
		Items []struct {
			Path    string `json:"path"`
			Errcode int    `json:"errcode"`
			Count   int    `json:"count"`
		} `json:"items"`
	}
	d.sandbox("GET", "/sandbox/api/calls", nil, &calls)
	got := map[string]int{}
	for _, c := range calls.Items {
		got[c.Path+" "+strconv.Itoa(c.Errcode)] += c.Count
	}
	if got[path+" 42001"] != 1 || got[path+" -1"] != 1 || got["/cgi-bin/component/api_authorizer_token 0"] != 1 {
		t.Fatalf("calls = %v, want one 42001, one refresh, one not-emulated answer", got)
	}
}
