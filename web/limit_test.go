package web

import (
	"net/http"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/metrics"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(60, 3, func() time.Time { return now }) // one a second, bursts of 3
	for i := 0; i < 3; i++ {
		if !l.allow("a") {
			t.Fatalf("burst request %d refused", i)
		}
	}
	if l.allow("a") {
		t.Fatal("fourth request in the same instant allowed")
	}
	if !l.allow("b") {
		t.Fatal("another client is limited by the first")
	}
	now = now.Add(time.Second)
	if !l.allow("a") {
		t.Fatal("a token did not come back after a second")
	}
	if l.allow("a") {
		t.Fatal("more than one token came back")
	}
	now = now.Add(time.Hour)
	for i := 0; i < 3; i++ {
		if !l.allow("a") {
			t.Fatalf("bucket did not refill to its burst (request %d)", i)
		}
	}
	if l.allow("a") {
		t.Fatal("bucket refilled past its burst")
	}
}

func TestRoutesKeepOneLimiter(t *testing.T) {
	s := &Server{Metrics: metrics.New(), Now: time.Now}
	s.RegisterRoutes(http.NewServeMux())
	first := s.authorizeLimit
	for range 10 {
		first.allow("203.0.113.7")
	}
	s.RegisterRoutes(http.NewServeMux())
	if s.authorizeLimit != first {
		t.Fatal("a second RegisterRoutes call replaced the limiter, giving every address a fresh allowance")
	}
}
