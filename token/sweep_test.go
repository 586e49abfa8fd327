package token

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/wechat"
)

// fleetWeChat answers api_component_token and api_authorizer_token for many
// authorizers, rotating each one's refresh token, with injectable errcodes
// for some authorizers or for every call.
type fleetWeChat struct {
	mu       sync.Mutex
	refresh  map[string]string // appid → the one valid refresh token
	n        int
	failApps map[string]int // appid → errcode
	failAll  int            // errcode for every api_authorizer_token call; 0: none
	calls    map[string]int // appid → api_authorizer_token calls
}

func (f *fleetWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	json.NewDecoder(r.Body).Decode(&body)
	switch r.URL.Path {
	case "/cgi-bin/component/api_component_token":
		io.WriteString(w, `{"component_access_token":"ctok","expires_in":7200}`)
	case "/cgi-bin/component/api_authorizer_token":
		f.mu.Lock()
		defer f.mu.Unlock()
		app := body["authorizer_appid"]
		f.calls[app]++
		if code := max(f.failAll, f.failApps[app]); code != 0 {
			fmt.Fprintf(w, `{"errcode":%d,"errmsg":"injected rid: 1-2-3"}`, code)
			return
		}
		if body["authorizer_refresh_token"] != f.refresh[app] {
			io.WriteString(w, `{"errcode":61023,"errmsg":"refresh_token is invalid"}`)
			return
		}
		f.n++
		f.refresh[app] = fmt.Sprintf("refresh-%d", f.n)
		fmt.Fprintf(w, `{"authorizer_access_token":"atok-%d","expires_in":7200,"authorizer_refresh_token":%q}`, f.n, f.refresh[app])
	default:
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}
}

func (f *fleetWeChat) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fleetWeChat) callsOf(app string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[app]
}

func (f *fleetWeChat) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

type fleet struct {
	*fixture
	wc   *fleetWeChat
	apps []string // soonest expiry first
	logs *syncBuffer
}

// newFleet is one platform with n authorizers whose tokens are all due,
// app i expiring i ms after app i-1, on a fresh database of b's kind.
func newFleet(t *testing.T, b storetest.Backend, n int) *fleet {
	t.Helper()
	ctx := context.Background()
	f := &fleet{fixture: &fixture{store: b.New(t), now: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)},
		wc: &fleetWeChat{refresh: map[string]string{}, failApps: map[string]int{}, calls: map[string]int{}}, logs: &syncBuffer{}}
	if err := f.store.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomp", Name: "p", Token: "t", AESKey: "k", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	f.store.SaveTicket(ctx, &wxfleet.Ticket{ComponentAppID: "wxcomp", Value: "ticket@@@1", CreateTime: f.now, ReceivedAt: f.now})
	for i := range n {
		app := fmt.Sprintf("wxapp%04d", i)
		f.apps = append(f.apps, app)
		f.wc.refresh[app] = "refresh-" + app
		err := f.store.UpsertAuthorizer(ctx, &wxfleet.Authorizer{
			ComponentAppID: "wxcomp", AppID: app, Status: wxfleet.StatusAuthorized,
			AccessToken: "atok-old", TokenExpiresAt: f.now.Add(10*time.Minute + time.Duration(i)*time.Millisecond),
			RefreshToken: wxfleet.Secret("refresh-" + app), AuthorizedAt: f.now, UpdatedAt: f.now,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// keeper returns a keeper with the breaker as its guard; WARN and above go
// to f.logs.
func (f *fleet) keeper(t *testing.T) *Keeper {
	srv := httptest.NewServer(f.wc)
	t.Cleanup(srv.Close)
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return &Keeper{
		Store: f.store, WeChat: wechat.New(wechat.Options{Hosts: wechat.SingleHost(srv.URL), Retries: -1}),
		Now: f.clock, Owner: "a", Logger: logger,
		Wait:  func(ctx context.Context, d time.Duration) error { time.Sleep(5 * time.Millisecond); return ctx.Err() },
		Guard: &Breaker{Store: f.store, Now: f.clock, Logger: logger},
	}
}

// refreshJobs lists the authorizer refresh jobs, in slot order.
func refreshJobs(t *testing.T, q queue.Queue) []RefreshAuthorizerArgs {
	t.Helper()
	res, err := q.JobList(context.Background(), river.NewJobListParams().Kinds(RefreshAuthorizerArgs{}.Kind()).First(10_000))
	if err != nil {
		t.Fatal(err)
	}
	var out []RefreshAuthorizerArgs
	for _, j := range res.Jobs {
		var a RefreshAuthorizerArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b RefreshAuthorizerArgs) int { return a.Slot.Compare(b.Slot) })
	return out
}

func newQueue(t *testing.T, st *store.Store, workers *river.Workers) queue.Queue {
	t.Helper()
	q, err := queue.New(st, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 8}, QueueName: {MaxWorkers: 8}},
		Workers:           workers,
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     10 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// More than the store's 1000-row page is scheduled in one sweep, each job a
// slot of its own 1/rate after the previous, most urgent first, never more
// than rate calls in a second, and a second sweep continues the schedule.
func TestSweepSchedulesEveryDueTokenAtTheRate(t *testing.T) {
	storetest.Run(t, testSweepSchedulesEveryDueTokenAtTheRate)
}

func testSweepSchedulesEveryDueTokenAtTheRate(t *testing.T, b storetest.Backend) {
	const n, rate = 2500, 100.0
	f := newFleet(t, b, n)
	workers := river.NewWorkers()
	river.AddWorker(workers, &RefreshAuthorizerWorker{})
	river.AddWorker(workers, &RefreshComponentWorker{})
	q := newQueue(t, f.store, workers) // not started: the jobs stay put
	ctx := context.Background()
	start := f.clock()

	sweep := func() int {
		t.Helper()
		if _, err := Sweep(ctx, f.store, q, f.clock(), rate); err != nil {
			t.Fatal(err)
		}
		return len(refreshJobs(t, q))
	}
	// The first sweep fills the horizon: 20 s at 100 a second.
	if got := sweep(); got != 2000 {
		t.Fatalf("first sweep scheduled %d refreshes, want 2000", got)
	}
	if got := sweep(); got != 2000 {
		t.Fatalf("a second sweep at once scheduled %d more, want none (the horizon is full)", got-2000)
	}
	f.advance(SweepInterval)
	if got := sweep(); got != n {
		t.Fatalf("after %v %d refreshes are scheduled, want all %d", SweepInterval, got, n)
	}

	jobs := refreshJobs(t, q)
	interval := time.Duration(float64(time.Second) / rate)
	seen := map[string]bool{}
	for i, a := range jobs {
		if seen[a.AppID] {
			t.Fatalf("%s scheduled twice", a.AppID)
		}
		seen[a.AppID] = true
		if want := start.Add(time.Duration(i) * interval); !a.Slot.Equal(want) {
			t.Fatalf("job %d (%s) has slot %v, want %v", i, a.AppID, a.Slot, want)
		}
		if a.AppID != f.apps[i] {
			t.Fatalf("slot %d went to %s, want %s (soonest expiry first)", i, a.AppID, f.apps[i])
		}
		// No second holds more than rate calls.
		if i >= int(rate) && a.Slot.Sub(jobs[i-int(rate)].Slot) < time.Second {
			t.Fatalf("%d calls within a second at slot %d", int(rate)+1, i)
		}
	}
}

// A failing minority (a quarter of the fleet answering 45009) is
// retried after its backoff while every other authorizer is refreshed,
// sweep after sweep, and it pauses nothing. The budget per sweep (rate 1)
// is smaller than the fleet, as 1000 a minute was against 10k tokens.
func TestFailingAuthorizersDoNotBlockTheOthers(t *testing.T) {
	storetest.Run(t, testFailingAuthorizersDoNotBlockTheOthers)
}

func testFailingAuthorizersDoNotBlockTheOthers(t *testing.T, b storetest.Backend) {
	const n = 40
	f := newFleet(t, b, n)
	var failing, healthy []string // every fourth, from the most urgent on
	for i, app := range f.apps {
		if i%4 == 0 {
			failing = append(failing, app)
		} else {
			healthy = append(healthy, app)
		}
	}
	f.wc.set(func() {
		for _, app := range failing {
			f.wc.failApps[app] = wechat.CodeQuotaExceeded
		}
	})
	k := f.keeper(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, &RefreshAuthorizerWorker{Keeper: k, Store: f.store,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}) // the clock stands still
	river.AddWorker(workers, &RefreshComponentWorker{Keeper: k})
	q := newQueue(t, f.store, workers)
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })

	settle := func() {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			res, err := q.JobList(ctx, river.NewJobListParams().States(unfinished...))
			if err == nil && len(res.Jobs) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("jobs still unfinished: %d", len(res.Jobs))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for round := range 4 {
		// No lead: the jobs are available at once rather than at River's
		// next scheduler run (the fake clock is not River's).
		if _, err := sweep(ctx, f.store, q, f.clock(), 1, time.Hour); err != nil {
			t.Fatal(err)
		}
		settle()
		f.advance(SweepInterval)
		if round == 0 {
			for _, app := range failing[:5] { // the first sweep's 20 slots
				if f.wc.callsOf(app) != 1 {
					t.Fatalf("%s called %d times in the first sweep", app, f.wc.callsOf(app))
				}
			}
		}
	}
	for _, app := range healthy {
		a, err := f.store.Authorizer(ctx, "wxcomp", app)
		if err != nil {
			t.Fatal(err)
		}
		if a.AccessToken == "atok-old" {
			t.Errorf("%s was never refreshed while a failing minority retried", app)
		}
		if c := f.wc.callsOf(app); c != 1 {
			t.Errorf("%s: %d calls, want 1", app, c)
		}
	}
	for _, app := range failing {
		st, err := f.store.RefreshState(ctx, "wxcomp", app)
		if err != nil {
			t.Fatal(err)
		}
		if st.Failures < 1 || st.LastErrcode != wechat.CodeQuotaExceeded {
			t.Errorf("%s: refresh state %+v, want its 45009 recorded", app, st)
		}
	}
	if _, paused, err := f.store.APIPause(ctx, "wxcomp", APIAuthorizerToken); err != nil || paused {
		t.Fatalf("a failing quarter paused the platform: %v, %v", paused, err)
	}
	if h, err := f.store.TokenHealth(ctx, f.clock(), Margin); err != nil || h[0].Failing != len(failing) || h[0].Fresh != n-len(failing) {
		t.Fatalf("token health %+v, %v", h, err)
	}
	// The breaker said so at WARN, with the appid, the errcode and what to do.
	lines := f.logs.lines("authorizer token refresh failed")
	if len(lines) == 0 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "errcode=45009") ||
		!strings.Contains(lines[0], "appid=wxapp00") || !strings.Contains(lines[0], "action=") {
		t.Fatalf("no WARN line with appid, errcode and action:\n%s", strings.Join(lines, "\n"))
	}
}

// A quota storm on every authorizer pauses api_authorizer_token for the
// platform: no more calls, nothing swept, one probe per PauseFor; once the
// quota is cleared the probe succeeds and refreshing resumes.
func TestQuotaStormPausesAndClearedQuotaResumes(t *testing.T) {
	storetest.Run(t, testQuotaStormPausesAndClearedQuotaResumes)
}

func testQuotaStormPausesAndClearedQuotaResumes(t *testing.T, b storetest.Backend) {
	f := newFleet(t, b, 30)
	f.wc.set(func() { f.wc.failAll = wechat.CodeQuotaExceeded })
	k := f.keeper(t)
	ctx := context.Background()
	refresh := func(app string) error {
		_, err := k.RefreshAuthorizer(ctx, "wxcomp", app, "", Margin)
		return err
	}
	for _, app := range f.apps[:tripMin] {
		if err := refresh(app); err == nil || errors.Is(err, ErrPaused) {
			t.Fatalf("%s during the storm: %v", app, err)
		}
	}
	p, paused, err := f.store.APIPause(ctx, "wxcomp", APIAuthorizerToken)
	if err != nil || !paused || p.Errcode != wechat.CodeQuotaExceeded || !p.Until.Equal(f.clock().Add(PauseFor)) {
		t.Fatalf("after %d quota errors: pause %+v, %v, %v", tripMin, p, paused, err)
	}
	calls := f.wc.total()
	if err := refresh(f.apps[20]); !errors.Is(err, ErrPaused) {
		t.Fatalf("refresh during the pause: %v, want ErrPaused", err)
	}
	if f.wc.total() != calls {
		t.Fatal("a paused refresh called WeChat")
	}
	q := newQueue(t, f.store, workersFor(k, f.store))
	if _, err := Sweep(ctx, f.store, q, f.clock(), 100); err != nil {
		t.Fatal(err)
	}
	if jobs := refreshJobs(t, q); len(jobs) != 0 {
		t.Fatalf("the sweep scheduled %d refreshes during the pause", len(jobs))
	}
	if len(f.logs.lines("api_authorizer_token paused for the whole platform")) != 1 {
		t.Fatal("no WARN line about the pause")
	}

	// The pause runs out: exactly one probe, which fails and pauses again.
	f.advance(PauseFor)
	if err := refresh(f.apps[20]); err == nil || errors.Is(err, ErrPaused) {
		t.Fatalf("probe: %v, want the quota error", err)
	}
	if err := refresh(f.apps[21]); !errors.Is(err, ErrPaused) {
		t.Fatalf("second caller after the probe: %v, want ErrPaused", err)
	}
	if got := f.wc.total() - calls; got != 1 {
		t.Fatalf("%d calls after the pause ran out, want one probe", got)
	}

	// The quota clears; at the next probe refreshing resumes for everyone.
	f.wc.set(func() { f.wc.failAll = 0 })
	f.advance(PauseFor)
	if err := refresh(f.apps[22]); err != nil {
		t.Fatalf("probe after the quota cleared: %v", err)
	}
	if _, paused, err := f.store.APIPause(ctx, "wxcomp", APIAuthorizerToken); err != nil || paused {
		t.Fatalf("still paused after a successful probe: %v, %v", paused, err)
	}
	if err := refresh(f.apps[0]); err != nil {
		t.Fatalf("refresh after resuming: %v", err)
	}
	if len(f.logs.lines("api_authorizer_token resumed")) != 1 {
		t.Fatal("no line about resuming")
	}
	if _, err := Sweep(ctx, f.store, q, f.clock(), 100); err != nil {
		t.Fatal(err)
	}
	if jobs := refreshJobs(t, q); len(jobs) == 0 {
		t.Fatal("the sweep scheduled nothing after resuming")
	}
	// One WARN line per authorizer in ten minutes, however often it failed.
	if got := len(f.logs.lines("appid=" + f.apps[0] + " errcode=45009")); got != 1 {
		t.Fatalf("%d WARN lines for %s", got, f.apps[0])
	}
}

func workersFor(k *Keeper, st *store.Store) *river.Workers {
	workers := river.NewWorkers()
	river.AddWorker(workers, &RefreshAuthorizerWorker{Keeper: k, Store: st})
	river.AddWorker(workers, &RefreshComponentWorker{Keeper: k})
	return workers
}

// A job that starts more than lateSlot after its slot makes no call (so a
// pool that fell behind cannot burst) and gives its authorizer back to the
// next sweep; one on time waits for its slot and refreshes.
func TestLateJobGivesItsCallBack(t *testing.T) { storetest.Run(t, testLateJobGivesItsCallBack) }

func testLateJobGivesItsCallBack(t *testing.T, b storetest.Backend) {
	f := newFleet(t, b, 2)
	k := f.keeper(t)
	ctx := context.Background()
	var slept []time.Duration
	w := &RefreshAuthorizerWorker{Keeper: k, Store: f.store,
		Sleep: func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
	now := f.clock()
	if err := f.store.MarkRefreshQueued(ctx, []store.RefreshMark{{ComponentAppID: "wxcomp", AppID: f.apps[0], Until: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	late := &river.Job[RefreshAuthorizerArgs]{JobRow: &rivertype.JobRow{}, Args: RefreshAuthorizerArgs{ComponentAppID: "wxcomp", AppID: f.apps[0], Slot: now.Add(-lateSlot - time.Millisecond)}}
	if err := w.Work(ctx, late); err != nil {
		t.Fatal(err)
	}
	if n := f.wc.total(); n != 0 {
		t.Fatalf("a late job called WeChat %d times", n)
	}
	if st, err := f.store.RefreshState(ctx, "wxcomp", f.apps[0]); err != nil || !st.QueuedUntil.IsZero() {
		t.Fatalf("the late job kept its mark: %+v, %v", st, err)
	}
	onTime := &river.Job[RefreshAuthorizerArgs]{JobRow: &rivertype.JobRow{}, Args: RefreshAuthorizerArgs{ComponentAppID: "wxcomp", AppID: f.apps[1], Slot: now.Add(300 * time.Millisecond)}}
	if err := w.Work(ctx, onTime); err != nil {
		t.Fatal(err)
	}
	if f.wc.callsOf(f.apps[1]) != 1 || len(slept) != 1 || slept[0] != 300*time.Millisecond {
		t.Fatalf("on time: %d calls, waited %v", f.wc.callsOf(f.apps[1]), slept)
	}
}
