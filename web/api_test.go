package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
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

// ?cursor= is a next_cursor from a previous page: a positive id, or absent
// for the first page; anything else is a 400 that says so.
func TestCursorParam(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  int64
		ok    bool
	}{
		{"", 0, true},
		{"?cursor=", 0, true},
		{"?cursor=42", 42, true},
		{"?cursor=9223372036854775807", 9223372036854775807, true},
		{"?cursor=0", 0, false},
		{"?cursor=-3", 0, false},
		{"?cursor=abc", 0, false},
		{"?cursor=1.5", 0, false},
		{"?cursor=9223372036854775808", 0, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/rollouts"+tc.query, nil)
		got, err := cursorParam(r)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("%q: %d, %v; want %d", tc.query, got, err, tc.want)
		}
		if !tc.ok && (err == nil || wxfleet.ErrorCode(err) != wxfleet.EINVALID || !strings.Contains(wxfleet.ErrorMessage(err), "next_cursor")) {
			t.Errorf("%q: %d, %v; want an invalid-argument error naming next_cursor", tc.query, got, err)
		}
	}
}
