package sandbox

import (
	"net/http"
	"testing"
)

// TestIPWhitelist: with a whitelist that leaves the caller (127.0.0.1) out,
// the component APIs answer 61004, whether they name the component in the
// body or by token; other APIs and the control API are not concerned.
func TestIPWhitelist(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken() // no whitelist: any address
	set := func(ips ...string) (int, map[string]any) {
		if ips == nil {
			ips = []string{} // [], not null
		}
		return e.do(http.MethodPost, "/sandbox/api/ip-whitelist", map[string]any{"ips": ips})
	}
	if status, out := set("203.0.113.7", "10.0.0.0/8"); status != http.StatusOK {
		t.Fatalf("set whitelist: HTTP %d %v", status, out)
	}
	tokenBody := map[string]string{"component_appid": testComponent, "component_appsecret": testSecret, "component_verify_ticket": e.ticket()}
	wantErr(t, e.wx("/cgi-bin/component/api_component_token", tokenBody), 61004)
	wantErr(t, e.wx("/cgi-bin/component/api_create_preauthcode?component_access_token="+tok, map[string]string{}), 61004)

	if status, out := set("127.0.0.0/8"); status != http.StatusOK {
		t.Fatalf("set whitelist: HTTP %d %v", status, out)
	}
	wantErr(t, e.wx("/cgi-bin/component/api_component_token", tokenBody), 0)
	if status, out := set("::ffff:127.0.0.1"); status != http.StatusOK { // IPv4-mapped counts as IPv4
		t.Fatalf("set whitelist: HTTP %d %v", status, out)
	}
	wantErr(t, e.wx("/cgi-bin/component/api_component_token", tokenBody), 0)

	// Kept across a restart; an empty list lets everyone in again.
	set("203.0.113.7")
	e.restart()
	_, got := e.do(http.MethodGet, "/sandbox/api/ip-whitelist", nil)
	if ips, _ := got["ips"].([]any); len(ips) != 1 || ips[0] != "203.0.113.7" {
		t.Fatalf("whitelist after restart = %v", got)
	}
	wantErr(t, e.wx("/cgi-bin/component/api_component_token", tokenBody), 61004)
	set()
	wantErr(t, e.wx("/cgi-bin/component/api_component_token", tokenBody), 0)

	for _, bad := range []any{map[string]any{"ips": []string{"not-an-ip"}}, map[string]any{}} {
		if status, _ := e.do(http.MethodPost, "/sandbox/api/ip-whitelist", bad); status != http.StatusBadRequest {
			t.Errorf("%v: HTTP %d, want 400", bad, status)
		}
	}
}
