package wxfleet_test

import (
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
)

func TestAuthorizerStatusRules(t *testing.T) {
	tests := []struct {
		status wxfleet.AuthorizerStatus
		usable bool
		tone   string
	}{
		{wxfleet.StatusAuthorized, true, "ok"},
		{wxfleet.StatusPending, false, "warn"},
		{wxfleet.StatusReauthorizationNeeded, false, "bad"},
		{wxfleet.StatusRevoked, false, "bad"},
	}
	if len(tests) != len(wxfleet.AuthorizerStatuses()) {
		t.Fatalf("AuthorizerStatuses has %d statuses, the table %d", len(wxfleet.AuthorizerStatuses()), len(tests))
	}
	labels := map[string]bool{}
	for i, tc := range tests {
		if got := wxfleet.AuthorizerStatuses()[i]; got != tc.status {
			t.Errorf("AuthorizerStatuses()[%d] = %q, want %q", i, got, tc.status)
		}
		if !tc.status.Valid() {
			t.Errorf("%q not valid", tc.status)
		}
		if got, err := wxfleet.ParseAuthorizerStatus(string(tc.status)); err != nil || got != tc.status {
			t.Errorf("ParseAuthorizerStatus(%q) = %q, %v", tc.status, got, err)
		}
		if tc.status.Usable() != tc.usable {
			t.Errorf("%q usable = %v", tc.status, !tc.usable)
		}
		err := tc.status.Unusable("wxapp")
		if (err == nil) != tc.usable {
			t.Errorf("%q: Unusable = %v although usable = %v", tc.status, err, tc.usable)
		}
		if err != nil && (wxfleet.ErrorCode(err) != wxfleet.ECONFLICT || !strings.Contains(err.Error(), "wxapp") || !strings.Contains(err.Error(), "/ ")) {
			t.Errorf("%q: Unusable = %v, want ECONFLICT naming the app in Chinese / English", tc.status, err)
		}
		label := tc.status.Label()
		zh, en, _ := strings.Cut(label, " ")
		if zh == "" || en == "" || zh[0] < 0x80 || en[0] >= 0x80 || strings.Contains(label, "unknown") || labels[label] {
			t.Errorf("%q has label %q: want its own, Chinese then English", tc.status, label)
		}
		labels[label] = true
		if tc.status.Tone() != tc.tone {
			t.Errorf("%q tone %q, want %q", tc.status, tc.status.Tone(), tc.tone)
		}
	}
	for _, bad := range []string{"", "enabled", "Authorized"} {
		st := wxfleet.AuthorizerStatus(bad)
		if st.Valid() || st.Usable() || st.Unusable("wxapp") == nil {
			t.Errorf("%q passes as a status", bad)
		}
		if _, err := wxfleet.ParseAuthorizerStatus(bad); wxfleet.ErrorCode(err) != wxfleet.EINVALID {
			t.Errorf("ParseAuthorizerStatus(%q) error %v, want EINVALID", bad, err)
		}
		if !strings.Contains(st.Label(), "unknown") {
			t.Errorf("unknown status %q labelled %q", bad, st.Label())
		}
	}
}
