package wechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// The errcodes by which WeChat says the platform sent something wrong are
// returned after one attempt (no retry, no token refresh, even on a call
// that may be resent), logged at ERROR as a platform defect with the API
// path, and seen once by Observe.
func TestPlatformDefectsAreLoggedAndNotRetried(t *testing.T) {
	for _, code := range []int{41001, 41004, 41018, 44002, 47001} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newFake(t, answer(fmt.Sprintf(`{"errcode":%d,"errmsg":"bad request rid: 6470b073-22f009c7-44bd3a05"}`, code), `{"component_access_token":"t","expires_in":7200}`))
			var logs bytes.Buffer
			c, sl, obs := newClient(f.srv.URL, Options{Retries: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			_, err := c.ComponentToken(context.Background(), "wxcomp", "secret", "ticket")
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Code != code || apiErr.Path != pathComponentToken {
				t.Fatalf("err = %v, want errcode %d from %s", err, code, pathComponentToken)
			}
			if n := len(f.requests()); n != 1 || len(sl.got()) != 0 {
				t.Errorf("%d requests, %d sleeps: want one attempt", n, len(sl.got()))
			}
			if codes := obs.got(); len(codes) != 1 || codes[0] != code {
				t.Errorf("Observe saw %v", codes)
			}
			line := logs.String()
			if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "platform defect") ||
				!strings.Contains(line, "path="+pathComponentToken) || !strings.Contains(line, fmt.Sprintf("errcode=%d", code)) {
				t.Errorf("log = %q, want an ERROR naming the defect, the path and the errcode", line)
			}
		})
	}
	// A token code is no defect: refreshed once, logged at debug.
	if IsPlatformDefect(CodeInvalidCredential) || IsPlatformDefect(CodeSystemBusy) || IsPlatformDefect(0) {
		t.Error("IsPlatformDefect is true for a token, busy or success code")
	}
}
