package sandbox

import (
	"net/http"
	"strings"
	"testing"
)

// The control API lists every app with its refresh token. A request that
// carries a WeChat token came through a platform's WeChat calls (a forwarded
// path) and is refused; the operator's own requests carry none.
func TestControlAPIRefusesWeChatCalls(t *testing.T) {
	e := newEnv(t)
	e.start()
	for _, path := range []string{"/sandbox/api/apps", "/sandbox/api/components"} {
		if st, _ := e.do("GET", path, nil); st != 200 {
			t.Fatalf("operator GET %s: %d", path, st)
		}
		for _, q := range []string{"?access_token=AT", "?component_access_token=CT", "?x=1&access_token="} {
			resp, err := http.Get(e.srv.URL + path + q)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("GET %s%s: %d, want 403", path, q, resp.StatusCode)
			}
		}
	}
	// WeChat's own API paths still take tokens.
	resp, err := http.Post(e.srv.URL+"/cgi-bin/component/api_get_authorizer_list?component_access_token=bad", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		t.Error("an emulated WeChat API was refused as a control call")
	}
}
