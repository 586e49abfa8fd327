package authorization

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
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/vault"
	"github.com/wxfleet/wxfleet/wechat"
)

// fakeWeChat answers the component APIs the flow calls and counts the
// exchanges. Codes are not single-use, as in the sandbox: only the platform
// can keep a code from being exchanged twice.
type fakeWeChat struct {
	queryAuth atomic.Int32
	info      atomic.Int32
	delay     time.Duration // widens the race between the two paths
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	json.NewDecoder(r.Body).Decode(&body)
	switch r.URL.Path {
	case "/cgi-bin/component/api_component_token":
		io.WriteString(w, `{"component_access_token":"ctok","expires_in":7200}`)
	case "/cgi-bin/component/api_query_auth":
		n := f.queryAuth.Add(1)
		time.Sleep(f.delay)
		app := map[string]string{"authcode-1": "wxapp", "authcode-2": "wxapp"}[body["authorization_code"]]
		if app == "" {
			io.WriteString(w, `{"errcode":61010,"errmsg":"code is expired"}`)
			return
		}
		fmt.Fprintf(w, `{"authorization_info":{"authorizer_appid":%q,"authorizer_access_token":"atok-%d","expires_in":7200,"authorizer_refresh_token":"refresh-%d","func_info":[{"funcscope_category":{"id":17}}]}}`, app, n, n)
	case "/cgi-bin/component/api_get_authorizer_info":
		f.info.Add(1)
		time.Sleep(f.delay)
		io.WriteString(w, `{"authorizer_info":{"nick_name":"小店","user_name":"gh_1","MiniProgramInfo":{}},"authorization_info":{"authorizer_appid":"wxapp"}}`)
	default:
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}
}

type fixture struct {
	wc    *fakeWeChat
	srv   *httptest.Server
	dsn   string
	now   time.Time
	link  *wxfleet.AuthLink
	main  *store.Store
	vault *vault.Vault
}

// newFixture is one platform with a valid ticket and one authorization link
// (merchant m-1) on a fresh database of b's kind.
func newFixture(t *testing.T, b storetest.Backend) (*fixture, *Service) {
	t.Helper()
	f := &fixture{wc: &fakeWeChat{}, dsn: b.DSN(t), now: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	f.srv = httptest.NewServer(f.wc)
	t.Cleanup(f.srv.Close)
	f.vault = storetest.NewVault(t)
	f.main = storetest.Migrated(t, f.dsn, f.vault)
	ctx := context.Background()
	if err := f.main.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomp", Name: "p", Token: "t", AESKey: "k", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	f.main.SaveTicket(ctx, &wxfleet.Ticket{ComponentAppID: "wxcomp", Value: "ticket@@@1", CreateTime: f.now, ReceivedAt: f.now})
	f.link = &wxfleet.AuthLink{ComponentAppID: "wxcomp", PreAuthCode: "preauthcode@@@1", Merchant: "m-1", AuthType: 2, CreatedAt: f.now, ExpiresAt: f.now.Add(10 * time.Minute)}
	if err := f.main.CreateAuthLink(ctx, f.link); err != nil {
		t.Fatal(err)
	}
	return f, f.service(t, f.main, "instance-a")
}

// service is the flow of one instance on st.
func (f *fixture) service(t *testing.T, st *store.Store, owner string) *Service {
	wc := wechat.New(wechat.Options{Hosts: wechat.SingleHost(f.srv.URL)})
	now := func() time.Time { return f.now }
	log := slog.New(slog.DiscardHandler)
	k := &token.Keeper{Store: st, WeChat: wc, Now: now, Owner: owner, Logger: log,
		Wait: func(ctx context.Context, d time.Duration) error { time.Sleep(5 * time.Millisecond); return ctx.Err() }}
	return &Service{Store: st, WeChat: wc, Keeper: k, Now: now, Logger: log}
}

// raceBothPaths runs the browser callback on cb and the push on push at once,
// for the same authorization code, and returns what each got.
func (f *fixture) raceBothPaths(t *testing.T, cb, push *Service) [2]*wxfleet.Authorizer {
	t.Helper()
	var got [2]*wxfleet.Authorizer
	var errs [2]error
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		<-start
		got[0], errs[0] = cb.Callback(context.Background(), "wxcomp", f.link.ID, "authcode-1")
	})
	wg.Go(func() {
		<-start
		got[1], errs[1] = push.HandlePush(context.Background(), "wxcomp", "wxapp", "authcode-1", store.PreAuthDigest("preauthcode@@@1"), f.now.Add(-time.Second))
	})
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("path %d: %v", i, err)
		}
	}
	return got
}

// checkOnce asserts one exchange and one profile fetch, and the authorizer
// complete: authorized, merchant from the link, profile, link used.
func (f *fixture) checkOnce(t *testing.T, got [2]*wxfleet.Authorizer) {
	t.Helper()
	if q, i := f.wc.queryAuth.Load(), f.wc.info.Load(); q != 1 || i != 1 {
		t.Errorf("api_query_auth called %d times, api_get_authorizer_info %d; want 1 and 1", q, i)
	}
	ctx := context.Background()
	a, err := f.main.Authorizer(ctx, "wxcomp", "wxapp")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != wxfleet.StatusAuthorized || a.Merchant != "m-1" || a.Nickname != "小店" || a.AccessToken != "atok-1" {
		t.Fatalf("stored authorizer: status %s, merchant %q, nickname %q, token from the one exchange %v", a.Status, a.Merchant, a.Nickname, a.AccessToken == "atok-1")
	}
	for i, g := range got {
		if g == nil || g.AppID != "wxapp" || g.Status != wxfleet.StatusAuthorized {
			t.Fatalf("path %d got %+v", i, g)
		}
	}
	l, err := f.main.AuthLink(ctx, "wxcomp", f.link.ID)
	if err != nil || l.AuthorizerAppID != "wxapp" {
		t.Fatalf("link after authorization: %+v, %v", l, err)
	}
}

// The push job and the browser callback bring the same code at once to one
// instance: one exchange.
func TestPushAndCallbackExchangeOnce(t *testing.T) { storetest.Run(t, testPushAndCallbackExchangeOnce) }

func testPushAndCallbackExchangeOnce(t *testing.T, b storetest.Backend) {
	f, s := newFixture(t, b)
	f.wc.delay = 50 * time.Millisecond
	f.checkOnce(t, f.raceBothPaths(t, s, s))
}

// The same on two instances (two stores on one database).
func TestPushAndCallbackExchangeOnceOnTwoInstances(t *testing.T) {
	storetest.Run(t, testPushAndCallbackExchangeOnceOnTwoInstances)
}

func testPushAndCallbackExchangeOnceOnTwoInstances(t *testing.T, b storetest.Backend) {
	f, s := newFixture(t, b)
	f.wc.delay = 50 * time.Millisecond
	other := f.service(t, storetest.Migrated(t, f.dsn, f.vault), "instance-b")
	f.checkOnce(t, f.raceBothPaths(t, s, other))
}

// One after the other: whichever path comes second finds the code exchanged,
// even when nothing else tells it the work is done; a new code (the merchant
// authorizes again) is exchanged anew.
func TestSecondPathFindsTheCodeExchanged(t *testing.T) {
	storetest.Run(t, testSecondPathFindsTheCodeExchanged)
}

func testSecondPathFindsTheCodeExchanged(t *testing.T, b storetest.Backend) {
	f, s := newFixture(t, b)
	ctx := context.Background()
	// The push comes first and knows no link (no PreAuthCode).
	if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", "", f.now); err != nil {
		t.Fatal(err)
	}
	// A push of the same code stamped later than the authorization: its
	// CreateTime does not say the work is done, the recorded code does.
	if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", "", f.now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The callback brings the link the push did not know: no exchange, but
	// the link is used and its merchant set.
	a, err := s.Callback(ctx, "wxcomp", f.link.ID, "authcode-1")
	if err != nil {
		t.Fatal(err)
	}
	if q, i := f.wc.queryAuth.Load(), f.wc.info.Load(); q != 1 || i != 1 {
		t.Fatalf("api_query_auth called %d times, api_get_authorizer_info %d; want 1 and 1", q, i)
	}
	if a.Merchant != "m-1" {
		t.Fatalf("merchant after the callback = %q, want the link's", a.Merchant)
	}
	if l, _ := f.main.AuthLink(ctx, "wxcomp", f.link.ID); l.AuthorizerAppID != "wxapp" {
		t.Fatalf("link not marked used: %+v", l)
	}
	// The push announced by a callback already done is skipped as before.
	if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-9", store.PreAuthDigest("preauthcode@@@1"), f.now); err != nil {
		t.Fatal(err)
	}
	if q := f.wc.queryAuth.Load(); q != 1 {
		t.Fatalf("a push for a used link exchanged its code (%d exchanges)", q)
	}
	// Authorizing again brings a new code: it is exchanged.
	f.now = f.now.Add(time.Hour)
	a, err = s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-2", "", f.now)
	if err != nil {
		t.Fatal(err)
	}
	if q := f.wc.queryAuth.Load(); q != 2 || a.AccessToken != "atok-2" {
		t.Fatalf("a new code: %d exchanges in all (want 2), token from it %v", q, a.AccessToken == "atok-2")
	}
}
