package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A call WeChat refuses as malformed (here a forwarded custom/send with an
// empty body: 44002) is counted in /metrics as a platform defect, with the
// API path, and logged as one.
func TestPlatformDefectsCountedInMetrics(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOne()
	req, _ := http.NewRequest("POST", d.Platform.URL()+"/api/v1/authorizers/"+app+"/wechat/cgi-bin/message/custom/send", nil)
	req.Header.Set("Authorization", "Bearer "+d.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"errcode":44002`) {
		t.Fatalf("forward with an empty body: HTTP %d %s, want WeChat's 44002 passed on", resp.StatusCode, body)
	}
	mreq, _ := http.NewRequest("GET", d.Platform.URL()+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+d.AdminToken) // /metrics takes the admin token
	resp, err = http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const want = `wxfleet_wechat_platform_defects_total{errcode="44002",path="/cgi-bin/message/custom/send"} 1`
	if !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if !strings.Contains(d.log.String(), "platform defect") {
		t.Error("no log line names the platform defect")
	}
}
