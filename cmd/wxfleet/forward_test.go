package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
)

// WeChat answers every forwarded call with 40001. Twenty forwards at once,
// then twenty one after another, make at most one api_authorizer_token call
// (they made twenty, each rotating the refresh token), and a
// /cgi-bin/component/ path makes none.
func TestForwardedRejectionsDoNotStormRefreshes(t *testing.T) {
	d := bootDemo(t)
	apps := d.miniPrograms()
	app := apps[3].AppID
	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link)
	d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": app}, nil)
	d.eventually("authorized", func() bool {
		a, st := d.authorizer(app)
		return st == 200 && a.Status == "authorized"
	})
	d.sandbox("DELETE", "/sandbox/api/calls", nil, nil)
	const sendPath = "/cgi-bin/message/custom/send"
	d.sandbox("POST", "/sandbox/api/faults", map[string]any{"path": sendPath, "errcode": 40001}, nil)
	calls := func() map[string]int {
		var out struct {
			Calls map[string]int `json:"calls"`
		}
		d.sandbox("GET", "/sandbox/api/calls", nil, &out)
		return out.Calls
	}

	body, _ := json.Marshal(map[string]any{"touser": "o-nobody", "msgtype": "text", "text": map[string]string{"content": "hi"}})
	forward := func(path string) (int, string, error) {
		req, err := http.NewRequest("POST", d.Platform.URL()+"/api/v1/authorizers/"+app+"/wechat"+path, bytes.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Authorization", "Bearer "+d.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), err
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, _, err := forward(sendPath); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := calls()["/cgi-bin/component/api_authorizer_token"]; n > 1 {
		t.Fatalf("20 concurrent forwards answered 40001 made %d api_authorizer_token calls, want at most 1", n)
	}
	for range 20 {
		status, answer, err := forward(sendPath)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusServiceUnavailable {
			t.Fatalf("a forward rejected again right after a forced refresh: status %d %s, want 503 saying why", status, answer)
		}
	}
	c := calls()
	if n := c["/cgi-bin/component/api_authorizer_token"]; n > 1 {
		t.Fatalf("40 forwards answered 40001 made %d api_authorizer_token calls, want at most 1", n)
	}
	t.Logf("40 forwards answered 40001: %d forwarded calls, %d api_authorizer_token calls", c[sendPath], c["/cgi-bin/component/api_authorizer_token"])
	if n := c[sendPath]; n < 40 {
		t.Fatalf("the sandbox saw %d forwarded calls, want at least 40", n)
	}

	// A /cgi-bin/component/ path is forwarded, but its rejection refreshes nothing.
	const privacyPath = "/cgi-bin/component/setprivacysetting"
	d.sandbox("POST", "/sandbox/api/faults", map[string]any{"path": privacyPath, "errcode": 40001}, nil)
	before := calls()["/cgi-bin/component/api_authorizer_token"]
	status, answer, err := forward(privacyPath)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusBadRequest {
		t.Fatalf("a rejected /cgi-bin/component/ forward: status %d %s, want 400", status, answer)
	}
	if c := calls(); c["/cgi-bin/component/api_authorizer_token"] != before || c[privacyPath] != 1 {
		t.Fatalf("a rejected /cgi-bin/component/ forward: %d refreshes, %d calls to it; want none and 1", c["/cgi-bin/component/api_authorizer_token"]-before, c[privacyPath])
	}
	a, _ := d.authorizer(app)
	if a.Status != "authorized" {
		t.Fatalf("status after the rejections: %s", a.Status)
	}
}
