package token

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/wechat"
)

var (
	invalidCredential = &wechat.Error{Code: wechat.CodeInvalidCredential, Message: "invalid credential"}
	tokenExpired      = &wechat.Error{Code: wechat.CodeTokenExpired, Message: "access_token expired"}
)

// WeChat keeps answering 40001: twenty callers that all hold the current
// token invalidate it at once, then again one after another with whatever
// token they are handed. One refresh, not twenty.
func TestRejectedTokenIsForcedOncePerInterval(t *testing.T) {
	storetest.Run(t, testRejectedTokenIsForcedOncePerInterval)
}

func testRejectedTokenIsForcedOncePerInterval(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	f.wc.delay = 20 * time.Millisecond
	k := f.keeper(t, "a")
	ctx := context.Background()
	src := k.AuthorizerSource("wxcomp", "wxapp")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() { errs[i] = src.Invalidate(ctx, "atok-0", invalidCredential) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent invalidation %d: %v", i, err)
		}
	}
	if n := f.wc.authorizerCalls.Load(); n != 1 {
		t.Fatalf("20 concurrent invalidations made %d refreshes, want 1", n)
	}
	// Each next call gets the new token, and WeChat rejects it too.
	for range 20 {
		tok, err := src.Token(ctx)
		if err != nil || tok != "atok-1" {
			t.Fatalf("token after the forced refresh: %q, %v", tok, err)
		}
		err = src.Invalidate(ctx, tok, invalidCredential)
		if wxfleet.ErrorCode(err) != wxfleet.EUNAVAILABLE {
			t.Fatalf("a second forced refresh within %v: err %v, want EUNAVAILABLE", ForcedRefreshInterval, err)
		}
	}
	if n := f.wc.authorizerCalls.Load(); n != 1 {
		t.Fatalf("20 invalidations in a row made %d refreshes, want 1", n)
	}
	// Another instance is bound by the same mark.
	other := f.keeperOn(t, f.otherStore(t), "b").AuthorizerSource("wxcomp", "wxapp")
	if err := other.Invalidate(ctx, "atok-1", invalidCredential); wxfleet.ErrorCode(err) != wxfleet.EUNAVAILABLE {
		t.Fatalf("another instance within the interval: %v", err)
	}
	// Expired (42001) is cured by a new token: it is not limited.
	if err := src.Invalidate(ctx, "atok-1", tokenExpired); err != nil {
		t.Fatalf("42001: %v", err)
	}
	if n := f.wc.authorizerCalls.Load(); n != 2 {
		t.Fatalf("42001 made %d refreshes in all, want 2", n)
	}
	// Once the interval is over, a rejection refreshes again.
	f.advance(ForcedRefreshInterval)
	if err := src.Invalidate(ctx, "atok-2", invalidCredential); err != nil {
		t.Fatal(err)
	}
	if n := f.wc.authorizerCalls.Load(); n != 3 {
		t.Fatalf("after the interval: %d refreshes in all, want 3", n)
	}
	a, _ := f.store.Authorizer(ctx, "wxcomp", "wxapp")
	if a.Status != wxfleet.StatusAuthorized || a.AccessToken != "atok-3" {
		t.Fatalf("status %s, token is atok-3: %v", a.Status, a.AccessToken == "atok-3")
	}
}

// Forwarded /cgi-bin/component/ calls never refresh the authorizer token.
func TestForwardSourceDoesNotRefreshForComponentPaths(t *testing.T) {
	f := newFixture(t, storetest.SQLite)
	k := f.keeper(t, "a")
	ctx := context.Background()
	err := k.ForwardSource("wxcomp", "wxapp", "/cgi-bin/component/fastregisterweapp").Invalidate(ctx, "atok-0", invalidCredential)
	if wxfleet.ErrorCode(err) != wxfleet.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
	if tok, err := k.ForwardSource("wxcomp", "wxapp", "/cgi-bin/component/setprivacysetting").Token(ctx); err != nil || tok != "atok-0" {
		t.Fatalf("a component path still gets the authorizer token: %q, %v", tok, err)
	}
	if err := k.ForwardSource("wxcomp", "wxapp", "/wxa/getwxacode").Invalidate(ctx, "atok-0", invalidCredential); err != nil {
		t.Fatal(err)
	}
	if n := f.wc.authorizerCalls.Load(); n != 1 {
		t.Fatalf("%d refreshes, want 1 (for the non-component path only)", n)
	}
}
