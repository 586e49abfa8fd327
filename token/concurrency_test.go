package token

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// refreshTogether has every keeper start n goroutines at once that ask for
// the expired token: half the way an API request does (AuthorizerToken), half
// the way the refresh job does. It returns the tokens they got.
func refreshTogether(t *testing.T, keepers []*Keeper, n int) []string {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	var got []string
	for _, k := range keepers {
		for i := range n {
			wg.Go(func() {
				<-start
				var tok string
				var err error
				if i%2 == 0 {
					tok, err = k.AuthorizerToken(context.Background(), "wxcomp", "wxapp")
				} else {
					tok, err = k.RefreshAuthorizer(context.Background(), "wxcomp", "wxapp", "", Margin)
				}
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
				mu.Lock()
				got = append(got, tok)
				mu.Unlock()
			})
		}
	}
	close(start)
	wg.Wait()
	return got
}

// checkRefreshedOnce asserts one WeChat call, one new token for everyone,
// and an authorizer still authorized with the rotated refresh token.
func checkRefreshedOnce(t *testing.T, f *fixture, got []string) {
	t.Helper()
	if n := f.wc.authorizerCalls.Load(); n != 1 {
		t.Errorf("api_authorizer_token called %d times, want 1", n)
	}
	for i, tok := range got {
		if tok != "atok-1" {
			t.Fatalf("caller %d got %q, want atok-1", i, tok)
		}
	}
	a, err := f.store.Authorizer(context.Background(), "wxcomp", "wxapp")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != wxfleet.StatusAuthorized || a.RefreshToken != "refresh-1" {
		t.Fatalf("after the refresh: status %s, refresh token rotated to the latest: %v", a.Status, a.RefreshToken == "refresh-1")
	}
}

// 32 goroutines of one process refresh the same expired token at once. The
// lease was re-entrant for the process, so all of them called WeChat: the
// second call presented a rotated-away refresh token, got 61023 and marked
// the mini program reauthorization_needed.
func TestOneProcessRefreshesOnce(t *testing.T) { storetest.Run(t, testOneProcessRefreshesOnce) }

func testOneProcessRefreshesOnce(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	f.wc.delay = 50 * time.Millisecond
	k := f.keeper(t, "instance-a")
	f.advance(2 * time.Hour)
	checkRefreshedOnce(t, f, refreshTogether(t, []*Keeper{k}, 32))
}

// Two instances (two stores on one database), 16 goroutines each.
func TestTwoProcessesRefreshOnce(t *testing.T) { storetest.Run(t, testTwoProcessesRefreshOnce) }

func testTwoProcessesRefreshOnce(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	f.wc.delay = 50 * time.Millisecond
	ka := f.keeper(t, "instance-a")
	kb := f.keeperOn(t, f.otherStore(t), "instance-b")
	f.advance(2 * time.Hour)
	checkRefreshedOnce(t, f, refreshTogether(t, []*Keeper{ka, kb}, 16))
}
