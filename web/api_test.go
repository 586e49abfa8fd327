package web

import (
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/token"
)

// The console's "refreshing" is the keeper's own window, not a copy of it.
func TestTokenStateFollowsTheKeeper(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		status wxfleet.AuthorizerStatus
		left   time.Duration
		want   string
	}{
		{wxfleet.StatusAuthorized, token.Margin + time.Second, "valid"},
		{wxfleet.StatusAuthorized, token.Margin - time.Second, "refreshing"},
		{wxfleet.StatusAuthorized, 0, "expired"},
		{wxfleet.StatusRevoked, time.Hour, "unusable"},
		{wxfleet.StatusReauthorizationNeeded, time.Hour, "unusable"},
		{wxfleet.StatusPending, time.Hour, "unusable"},
	}
	for _, tc := range tests {
		a := &wxfleet.Authorizer{Status: tc.status, AccessToken: "tok", TokenExpiresAt: now.Add(tc.left)}
		if got := tokenState(a, now); got != tc.want {
			t.Errorf("%s with %v left: %q, want %q", tc.status, tc.left, got, tc.want)
		}
	}
	if got := tokenState(&wxfleet.Authorizer{Status: wxfleet.StatusAuthorized}, now); got != "none" {
		t.Errorf("no token: %q", got)
	}
}
