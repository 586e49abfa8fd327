package wechat

import (
	"testing"
)

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
