package token

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/vault"
	"github.com/wxfleet/wxfleet/wechat"
)

// fakeWeChat answers the two token APIs the keeper calls and counts them. It
// rotates refresh tokens like the sandbox: the old one is void at once.
type fakeWeChat struct {
	mu              sync.Mutex
	refresh         string // the one valid refresh token
	authorizerCalls atomic.Int32
	componentCalls  atomic.Int32
	startPushCalls  atomic.Int32
	delay           time.Duration
	n               int
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	json.NewDecoder(r.Body).Decode(&body)
	switch r.URL.Path {
	case "/cgi-bin/component/api_component_token":
		f.componentCalls.Add(1)
		fmt.Fprintf(w, `{"component_access_token":"ctok-%d","expires_in":7200}`, f.componentCalls.Load())
	case "/cgi-bin/component/api_authorizer_token":
		f.authorizerCalls.Add(1)
		time.Sleep(f.delay) // widen the race window between two keepers
		f.mu.Lock()
		defer f.mu.Unlock()
		if body["authorizer_refresh_token"] != f.refresh {
			io.WriteString(w, `{"errcode":61023,"errmsg":"refresh_token is invalid rid: 1-2-3"}`)
			return
		}
		f.n++
		f.refresh = fmt.Sprintf("refresh-%d", f.n)
		fmt.Fprintf(w, `{"authorizer_access_token":"atok-%d","expires_in":7200,"authorizer_refresh_token":%q}`, f.n, f.refresh)
	case "/cgi-bin/component/api_start_push_ticket":
		f.startPushCalls.Add(1)
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	default:
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}
}

type fixture struct {
	store *store.Store
	dsn   string       // the database store is on
	vault *vault.Vault // its key
	wc    *fakeWeChat
	now   time.Time
	mu    sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// newFixture is one platform with one authorizer on a fresh database of b's kind.
func newFixture(t *testing.T, b storetest.Backend) *fixture {
	t.Helper()
	ctx := context.Background()
	dsn, v := b.DSN(t), storetest.NewVault(t)
	st := storetest.Migrated(t, dsn, v)
	var err error
	f := &fixture{store: st, dsn: dsn, vault: v, wc: &fakeWeChat{refresh: "refresh-0"}, now: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	p := &wxfleet.Platform{AppID: "wxcomp", Name: "p", Token: "t", AESKey: "k", Secret: "s"}
	if err := st.UpsertPlatform(ctx, p); err != nil {
		t.Fatal(err)
	}
	st.SaveTicket(ctx, &wxfleet.Ticket{ComponentAppID: "wxcomp", Value: "ticket@@@1", CreateTime: f.now, ReceivedAt: f.now})
	err = st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{
		ComponentAppID: "wxcomp", AppID: "wxapp", Status: wxfleet.StatusAuthorized,
		AccessToken: "atok-0", TokenExpiresAt: f.now.Add(2 * time.Hour), RefreshToken: "refresh-0",
		AuthorizedAt: f.now, UpdatedAt: f.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// otherStore is a second store on the fixture's database: another instance.
func (f *fixture) otherStore(t *testing.T) *store.Store {
	return storetest.Migrated(t, f.dsn, f.vault)
}

func (f *fixture) keeper(t *testing.T, owner string) *Keeper {
	return f.keeperOn(t, f.store, owner)
}

func (f *fixture) keeperOn(t *testing.T, st *store.Store, owner string) *Keeper {
	srv := httptest.NewServer(f.wc)
	t.Cleanup(srv.Close)
	return &Keeper{
		Store: st, WeChat: wechat.New(wechat.Options{Hosts: wechat.SingleHost(srv.URL)}),
		Now: f.clock, Owner: owner, Logger: slog.New(slog.DiscardHandler),
		Wait: func(ctx context.Context, d time.Duration) error { time.Sleep(5 * time.Millisecond); return ctx.Err() },
	}
}

func TestFreshTokenIsServedFromTheStore(t *testing.T) {
	storetest.Run(t, testFreshTokenIsServedFromTheStore)
}

func testFreshTokenIsServedFromTheStore(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	k := f.keeper(t, "a")
	tok, err := k.AuthorizerToken(context.Background(), "wxcomp", "wxapp")
	if err != nil || tok != "atok-0" {
		t.Fatalf("AuthorizerToken = %q, %v", tok, err)
	}
	if n := f.wc.authorizerCalls.Load(); n != 0 {
		t.Errorf("a fresh token cost %d WeChat calls", n)
	}
}

func TestExpiredTokenIsRefreshedAndRotationSaved(t *testing.T) {
	storetest.Run(t, testExpiredTokenIsRefreshedAndRotationSaved)
}

func testExpiredTokenIsRefreshedAndRotationSaved(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	k := f.keeper(t, "a")
	f.advance(2 * time.Hour)
	ctx := context.Background()
	tok, err := k.AuthorizerToken(ctx, "wxcomp", "wxapp")
	if err != nil || tok != "atok-1" {
		t.Fatalf("after expiry: %q, %v", tok, err)
	}
	a, _ := f.store.Authorizer(ctx, "wxcomp", "wxapp")
	if a.RefreshToken != "refresh-1" || !a.TokenExpiresAt.Equal(f.clock().Add(2*time.Hour)) {
		t.Fatalf("stored after refresh: refresh %q expires %v", a.RefreshToken.Reveal(), a.TokenExpiresAt)
	}
	// The rotated token works for the next refresh: nothing was lost.
	f.advance(2 * time.Hour)
	if tok, err := k.AuthorizerToken(ctx, "wxcomp", "wxapp"); err != nil || tok != "atok-2" {
		t.Fatalf("second refresh: %q, %v", tok, err)
	}
}

// Two instances refresh the same token at once: the lease lets one call
// WeChat; the other finds the new token in the store. Were both to call,
// the second would present a rotated-away refresh token and get 61023.
func TestConcurrentRefreshCallsWeChatOnce(t *testing.T) {
	storetest.Run(t, testConcurrentRefreshCallsWeChatOnce)
}

func testConcurrentRefreshCallsWeChatOnce(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	f.wc.delay = 50 * time.Millisecond
	ka, kb := f.keeper(t, "instance-a"), f.keeper(t, "instance-b")
	f.advance(2 * time.Hour)
	var wg sync.WaitGroup
	results := make([]string, 2)
	errs := make([]error, 2)
	for i, k := range []*Keeper{ka, kb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = k.RefreshAuthorizer(context.Background(), "wxcomp", "wxapp", "", Margin)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors: %v, %v", errs[0], errs[1])
	}
	if results[0] != "atok-1" || results[1] != "atok-1" {
		t.Fatalf("tokens: %v", results)
	}
	if n := f.wc.authorizerCalls.Load(); n != 1 {
		t.Fatalf("WeChat was called %d times, want 1", n)
	}
}

// A token WeChat rejected (40001) is refreshed only if the store still holds
// it; if another instance already replaced it, the new one is used.
func TestInvalidateRereadsTheStore(t *testing.T) { storetest.Run(t, testInvalidateRereadsTheStore) }

func testInvalidateRereadsTheStore(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	k := f.keeper(t, "a")
	ctx := context.Background()
	src := k.AuthorizerSource("wxcomp", "wxapp")
	// Another instance refreshed meanwhile: the store holds atok-9.
	f.store.SaveAuthorizerToken(ctx, "wxcomp", "wxapp", wxfleet.Token{Value: "atok-9", ExpiresAt: f.clock().Add(time.Hour)}, "")
	if err := src.Invalidate(ctx, "atok-0", invalidCredential); err != nil {
		t.Fatal(err)
	}
	if n := f.wc.authorizerCalls.Load(); n != 0 {
		t.Fatalf("Invalidate of a token already replaced called WeChat %d times", n)
	}
	// The stored token itself was rejected: now it must refresh.
	if err := src.Invalidate(ctx, "atok-9", invalidCredential); err != nil {
		t.Fatal(err)
	}
	if n := f.wc.authorizerCalls.Load(); n != 1 {
		t.Fatalf("Invalidate of the current token called WeChat %d times, want 1", n)
	}
}

func TestRejectedRefreshTokenNeedsReauthorization(t *testing.T) {
	storetest.Run(t, testRejectedRefreshTokenNeedsReauthorization)
}

func testRejectedRefreshTokenNeedsReauthorization(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	k := f.keeper(t, "a")
	f.wc.refresh = "something-else" // WeChat no longer knows ours
	f.advance(2 * time.Hour)
	ctx := context.Background()
	_, err := k.AuthorizerToken(ctx, "wxcomp", "wxapp")
	if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
		t.Fatalf("err = %v, want a conflict", err)
	}
	a, _ := f.store.Authorizer(ctx, "wxcomp", "wxapp")
	if a.Status != wxfleet.StatusReauthorizationNeeded {
		t.Fatalf("status = %s", a.Status)
	}
	// And no further calls are made for it.
	k.AuthorizerToken(ctx, "wxcomp", "wxapp")
	if n := f.wc.authorizerCalls.Load(); n != 1 {
		t.Fatalf("WeChat called %d times", n)
	}
}

func TestComponentTokenNeedsATicket(t *testing.T) { storetest.Run(t, testComponentTokenNeedsATicket) }

func testComponentTokenNeedsATicket(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	k := f.keeper(t, "a")
	ctx := context.Background()
	if tok, err := k.ComponentToken(ctx, "wxcomp"); err != nil || tok != "ctok-1" {
		t.Fatalf("component token: %q, %v", tok, err)
	}
	if tok, _ := k.ComponentToken(ctx, "wxcomp"); tok != "ctok-1" {
		t.Fatalf("cached component token: %q", tok)
	}
	f.advance(13 * time.Hour) // token and ticket both expired
	_, err := k.ComponentToken(ctx, "wxcomp")
	if wxfleet.ErrorCode(err) != wxfleet.EUNAVAILABLE {
		t.Fatalf("without a valid ticket: %v", err)
	}
	if n := f.wc.componentCalls.Load(); n != 1 {
		t.Fatalf("api_component_token called %d times", n)
	}
	// Asked for a ticket once, not on every request.
	k.ComponentToken(ctx, "wxcomp")
	k.ComponentToken(ctx, "wxcomp")
	if n := f.wc.startPushCalls.Load(); n != 1 {
		t.Fatalf("api_start_push_ticket called %d times in a minute, want 1", n)
	}
	f.advance(2 * time.Minute)
	k.ComponentToken(ctx, "wxcomp")
	if n := f.wc.startPushCalls.Load(); n != 2 {
		t.Fatalf("api_start_push_ticket called %d times after two minutes, want 2", n)
	}
}
