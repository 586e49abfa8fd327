package authorization

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// callbackState is the state a link's URLs carry back to the callback.
func callbackState(t *testing.T, pcURL string) (link, state string) {
	t.Helper()
	u, err := url.Parse(pcURL)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(u.Query().Get("redirect_uri"))
	if err != nil {
		t.Fatal(err)
	}
	return r.Query().Get("link"), r.Query().Get("state")
}

// Junk and forged callbacks are refused before any WeChat call: no state,
// the wrong state, another link's id with one's own state, a page-started
// link without its browser's cookie, a link already used, an expired one.
// None writes anything.
func TestForgedCallbacksRefusedBeforeWeChat(t *testing.T) { storetest.Run(t, testForgedCallbacks) }

func testForgedCallbacks(t *testing.T, b storetest.Backend) {
	f, s := newFixture(t, b)
	ctx := context.Background()
	s.PublicURL = "https://isv.example"
	victim, err := s.CreateLink(ctx, "wxcomp", LinkRequest{Merchant: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	vLink, vState := callbackState(t, victim.PCURL)
	page, err := s.StartFromPage(ctx, "wxcomp", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 { // the quota burn of issue 16
		if _, err := s.Callback(ctx, "wxcomp", fmt.Sprintf("junk%d", i), "x", "", "authcode-1"); wxfleet.ErrorCode(err) != wxfleet.EFORBIDDEN {
			t.Fatalf("junk callback %d: %v", i, err)
		}
	}
	for name, c := range map[string][4]string{
		"no state":                 {vLink, "", "", "authcode-1"},
		"wrong state":              {vLink, "0123", "", "authcode-1"},
		"another link's id":        {vLink, f.state, "", "authcode-1"},
		"own link, another's code": {f.link.ID, vState, "", "authcode-1"},
		"page link without cookie": {page.LinkID, page.State, "", "authcode-1"},
		"page link, wrong cookie":  {page.LinkID, page.State, "other", "authcode-1"},
	} {
		if _, err := s.Callback(ctx, "wxcomp", c[0], c[1], c[2], c[3]); wxfleet.ErrorCode(err) != wxfleet.EFORBIDDEN {
			t.Errorf("%s: %v, want forbidden", name, err)
		}
	}
	if n := f.wc.queryAuth.Load(); n != 0 {
		t.Fatalf("forged callbacks made %d api_query_auth calls", n)
	}
	if _, err := f.main.Authorizer(ctx, "wxcomp", "wxapp"); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("a forged callback wrote an authorizer: %v", err)
	}
	// The real one completes, once; its replay is refused and writes nothing.
	a, err := s.Callback(ctx, "wxcomp", vLink, vState, "", "authcode-1")
	if err != nil || a.Merchant != "victim" {
		t.Fatalf("the link's own callback: %+v, %v", a, err)
	}
	if _, err := s.Callback(ctx, "wxcomp", vLink, vState, "", "authcode-2"); wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
		t.Fatalf("a used link's second callback: %v, want conflict", err)
	}
	if n := f.wc.queryAuth.Load(); n != 1 {
		t.Fatalf("%d exchanges, want 1", n)
	}
	// A page-started link completes from its browser only.
	f.wc.queryAuth.Store(0)
	if _, err := s.Callback(ctx, "wxcomp", page.LinkID, page.State, page.State, "authcode-2"); err != nil {
		t.Fatalf("the page link from its browser: %v", err)
	}
	// An operator link past its life is refused on the page and at the callback.
	f.now = f.now.Add(8 * 24 * time.Hour)
	if _, err := s.StartFromPage(ctx, "wxcomp", f.link.ID, "", ""); wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
		t.Fatalf("an expired link on the page: %v", err)
	}
	if _, err := s.Callback(ctx, "wxcomp", f.link.ID, f.state, "", "authcode-1"); wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
		t.Fatalf("an expired link's callback: %v", err)
	}
}

// A used operator link starts nothing, and the page reuses a live
// pre_auth_code for a second click of the same browser.
func TestPageStartsReuseCodesAndRefuseUsedLinks(t *testing.T) { storetest.Run(t, testPageStarts) }

func testPageStarts(t *testing.T, b storetest.Backend) {
	f, s := newFixture(t, b)
	ctx := context.Background()
	first, err := s.StartFromPage(ctx, "wxcomp", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.StartFromPage(ctx, "wxcomp", "", first.LinkID, first.State)
	if err != nil {
		t.Fatal(err)
	}
	if f.wc.preAuth.Load() != 1 || again.PCURL != first.PCURL {
		t.Fatalf("a second click with the cookie asked WeChat again (%d codes)", f.wc.preAuth.Load())
	}
	// Without the cookie (another browser), or a forged one, a fresh code.
	if _, err := s.StartFromPage(ctx, "wxcomp", "", first.LinkID, "forged"); err != nil {
		t.Fatal(err)
	}
	if f.wc.preAuth.Load() != 2 {
		t.Fatalf("%d codes, want 2", f.wc.preAuth.Load())
	}
	// The operator's link carries its merchant through the page.
	op, err := s.CreateLink(ctx, "wxcomp", LinkRequest{Merchant: "m-op"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.StartFromPage(ctx, "wxcomp", op.ID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Callback(ctx, "wxcomp", st.LinkID, st.State, st.State, "authcode-1")
	if err != nil || a.Merchant != "m-op" {
		t.Fatalf("page flow of an operator link: %+v, %v", a, err)
	}
	codes := f.wc.preAuth.Load()
	if _, err := s.StartFromPage(ctx, "wxcomp", op.ID, st.LinkID, st.State); wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
		t.Fatalf("a used link on the page: %v", err)
	}
	if f.wc.preAuth.Load() != codes {
		t.Fatal("a used link asked WeChat for a pre_auth_code")
	}
}

// When the browser's callback and the authorized push disagree about the
// link, the push's (by its PreAuthCode) decides the merchant.
func TestAttributionFollowsThePush(t *testing.T) { storetest.Run(t, testAttributionFollowsThePush) }

func testAttributionFollowsThePush(t *testing.T, b storetest.Backend) {
	f, s := newFixture(t, b)
	ctx := context.Background()
	other, err := s.CreateLink(ctx, "wxcomp", LinkRequest{Merchant: "m-wrong"})
	if err != nil {
		t.Fatal(err)
	}
	oLink, oState := callbackState(t, other.PCURL)
	// The app was authorized through f.link (merchant m-1, pre_auth_code
	// preauthcode@@@1), but the callback came back naming the other link.
	a, err := s.Callback(ctx, "wxcomp", oLink, oState, "", "authcode-1")
	if err != nil || a.Merchant != "m-wrong" {
		t.Fatalf("callback: %+v, %v", a, err)
	}
	if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", store.PreAuthDigest("preauthcode@@@1"), f.now); err != nil {
		t.Fatal(err)
	}
	got, _ := f.main.Authorizer(ctx, "wxcomp", "wxapp")
	if got.Merchant != "m-1" {
		t.Fatalf("merchant %q, want the push's link's m-1", got.Merchant)
	}
	if l, _ := f.main.AuthLink(ctx, "wxcomp", f.link.ID); l.AuthorizerAppID != "wxapp" {
		t.Fatalf("the push's link is not marked used: %+v", l)
	}
	if n := f.wc.queryAuth.Load(); n != 1 {
		t.Fatalf("%d exchanges, want 1", n)
	}
}
