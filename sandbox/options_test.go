package sandbox

import (
	"testing"
)

// TestAuthorizerOptions: both generations of the option APIs read and write
// the same options, with WeChat's codes for a bad name or value, an
// unauthorized account and a missing component_appid.
func TestAuthorizerOptions(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	app := e.tokens[AppBakery]
	const (
		oldGet = "/cgi-bin/component/api_get_authorizer_option"
		oldSet = "/cgi-bin/component/api_set_authorizer_option"
		newGet = "/cgi-bin/component/get_authorizer_option"
		newSet = "/cgi-bin/component/set_authorizer_option"
	)
	body := func(kv ...string) map[string]string {
		m := map[string]string{"component_appid": testComponent, "authorizer_appid": AppBakery}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	out := e.wx(oldGet+"?component_access_token="+e.ctok, body("option_name", "voice_recognize"))
	if str(out, "option_value") != "0" || str(out, "option_name") != "voice_recognize" || str(out, "authorizer_appid") != AppBakery {
		t.Fatalf("api_get_authorizer_option = %v", out)
	}
	wantErr(t, e.wx(oldSet+"?component_access_token="+e.ctok, body("option_name", "voice_recognize", "option_value", "1")), 0)
	out = e.wx(newGet+"?access_token="+app, map[string]string{"option_name": "voice_recognize"})
	if str(out, "option_value") != "1" || str(out, "option_name") != "voice_recognize" {
		t.Fatalf("get_authorizer_option after the old set = %v", out)
	}
	wantErr(t, e.wx(newSet+"?access_token="+app, map[string]string{"option_name": "location_report", "option_value": "2"}), 0)
	if out := e.wx(oldGet+"?access_token="+e.ctok, body("option_name", "location_report")); str(out, "option_value") != "2" {
		t.Fatalf("api_get_authorizer_option after the new set = %v", out)
	}
	// Survives a restart.
	e.restart()
	if out := e.wx(newGet+"?access_token="+app, map[string]string{"option_name": "location_report"}); str(out, "option_value") != "2" {
		t.Fatalf("after restart = %v", out)
	}

	for _, tt := range []struct {
		name, path string
		body       any
		want       int
	}{
		{"unknown option", oldGet, body("option_name", "menu"), 61012},
		{"no option", oldGet, body(), 61012},
		{"bad value", oldSet, body("option_name", "location_report", "option_value", "3"), 61013},
		{"no value", oldSet, body("option_name", "customer_service"), 61013},
		{"value as a number", oldSet, map[string]any{"component_appid": testComponent, "authorizer_appid": AppBakery, "option_name": "voice_recognize", "option_value": 1}, 47001},
		{"no component_appid", oldGet, map[string]string{"authorizer_appid": AppBakery, "option_name": "voice_recognize"}, 41018},
		{"another component", oldGet, body("component_appid", "wx0000000000000000", "option_name", "voice_recognize"), 61011},
		{"not authorized", oldGet, body("authorizer_appid", AppHotPot, "option_name", "voice_recognize"), 61003},
		{"empty body", oldGet, "", 44002},
		{"malformed", oldSet, "{", 47001},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, e.wx(tt.path+"?component_access_token="+e.ctok, tt.body), tt.want)
		})
	}
	for _, tt := range []struct {
		name, path string
		body       any
		want       int
	}{
		{"new: unknown option", newGet, map[string]string{"option_name": "menu"}, 61012},
		{"new: bad value", newSet, map[string]string{"option_name": "voice_recognize", "option_value": "2"}, 61013},
		{"new: empty body", newSet, "", 44002},
		{"new: malformed", newGet, "{", 47001},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, e.wx(tt.path+"?access_token="+app, tt.body), tt.want)
		})
	}
}
