package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/wxcrypt"
)

// tiny is the bounded load the end-to-end tests send.
var tiny = LoadSettings{Conns: 4, Requests: 200, Duration: 30 * time.Second, Timeout: 10 * time.Second, MaxPool: 1000}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestParseTargetLoopbackOnly(t *testing.T) {
	tests := []struct {
		base, wantPath string
		ok             bool
	}{
		{"http://127.0.0.1:8080", "/wechat/apps/wxa", true},
		{"http://127.0.0.2:8080/", "/wechat/apps/wxa", true},
		{"http://[::1]:8080", "/wechat/apps/wxa", true},
		{"http://localhost:8080", "/wechat/apps/wxa", true},
		{"http://127.0.0.1:8080/prefix", "/prefix/wechat/apps/wxa", true},
		{"http://127.0.0.1:8080/wechat/apps/wxa", "/wechat/apps/wxa", true},
		{"http://10.0.0.1:8080", "", false},
		{"http://8.8.8.8", "", false},
		{"http://0.0.0.0:8080", "", false},
		{"https://127.0.0.1:8443", "", false},
		{"127.0.0.1:8080", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			target, err := ParseTarget(context.Background(), tt.base, "wxa")
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err == nil && target.URL.Path != tt.wantPath {
				t.Errorf("path = %q, want %q", target.URL.Path, tt.wantPath)
			}
			if !tt.ok && strings.HasPrefix(tt.base, "http://") && !strings.Contains(err.Error(), "loopback") {
				t.Errorf("error does not explain the loopback rule: %v", err)
			}
		})
	}
}

// The pool's messages are what WeChat would send: signed, encrypted for the
// component appid, distinct, and of realistic size.
func TestPoolMessages(t *testing.T) {
	creds := defaultCredentials()
	gen, err := NewGenerator(creds, defaultAppID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := wxcrypt.New(creds.Token, creds.AESKey, creds.ComponentAppID)
	if err != nil {
		t.Fatal(err)
	}
	pool := gen.Pool(poolChunkSize + 10) // crosses a chunk boundary
	ids := map[string]bool{}
	openids := map[string]bool{}
	for i := range pool.Len() {
		query, body := pool.Get(i)
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		if q.Get("encrypt_type") != "aes" || !c.VerifyPlain(q.Get("signature"), q.Get("timestamp"), q.Get("nonce")) {
			t.Fatalf("message %d: bad query %s", i, query)
		}
		env, err := wxcrypt.ParseEnvelope(body)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := c.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), env.Encrypt)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		msg, err := push.ParseMessage(plain)
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, plain)
		}
		if msg.Get("MsgType") != "text" || msg.Get("ToUserName") != env.ToUserName || msg.Get("FromUserName") != q.Get("openid") {
			t.Fatalf("message %d: fields do not agree: %v", i, msg)
		}
		content := msg.Get("Content")
		if n := len(content); n < minContent-3 || n > maxContent || !utf8.ValidString(content) {
			t.Fatalf("message %d: content of %d bytes: %q", i, n, content)
		}
		id := msg.Get("MsgId")
		if ids[id] {
			t.Fatalf("MsgId %s repeats", id)
		}
		ids[id] = true
		openids[q.Get("openid")] = true
	}
	if len(openids) < numOpenIDs/2 {
		t.Errorf("only %d distinct openids", len(openids))
	}
	// Live (warm-up) messages continue the sequence.
	query, body := gen.Message()
	q, _ := url.ParseQuery(query)
	env, _ := wxcrypt.ParseEnvelope(body)
	plain, err := c.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), env.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if msg, _ := push.ParseMessage(plain); ids[msg.Get("MsgId")] {
		t.Error("a live message repeats a pooled MsgId")
	}
}

func TestFloorCountsRefusals(t *testing.T) {
	f, err := StartFloor("127.0.0.1:0", defaultCredentials(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wrong := defaultCredentials()
	wrong.Token = "not-the-token"
	gen, err := NewGenerator(wrong, defaultAppID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	target, err := ParseTarget(context.Background(), f.URL(), defaultAppID)
	if err != nil {
		t.Fatal(err)
	}
	cl := NewClient(target, 2, 5*time.Second)
	defer cl.Close()
	r := cl.Run(context.Background(), "wrong token", gen.Pool(20), RunOptions{Requests: 20, Duration: 10 * time.Second})
	if r.OK != 0 || r.NonOK["403"] != 20 || r.Errors != 0 || !strings.Contains(r.BodySample, "signature") {
		t.Fatalf("want 20 refusals (403 signature), got %+v", r)
	}
}

func TestLoadFloor(t *testing.T) {
	f, err := StartFloor("127.0.0.1:0", defaultCredentials(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"run", "--target", f.URL(), "-n", "200", "-c", "4", "-warmup", "0", "-json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep RunReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	res := rep.Load.Result
	if res.Requests != 200 || res.OK != 200 || res.Errors != 0 || len(res.NonOK) != 0 {
		t.Fatalf("want 200 successes, got %+v", res)
	}
	if res.Conns != 4 || res.Dials > 4 || res.StoppedBy != "requests" {
		t.Errorf("connections %d, opened %d, stopped by %s", res.Conns, res.Dials, res.StoppedBy)
	}
	if got := f.Floor.accepted.Load(); got != 200 {
		t.Errorf("floor accepted %d", got)
	}
}

// The real platform acknowledges every distinct message and stores each
// exactly once.
func TestLoadPlatform(t *testing.T) {
	ctx := context.Background()
	p, err := StartPlatform(ctx, t.TempDir(), defaultCredentials(), false, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out, errOut bytes.Buffer
	err = run(ctx, []string{"run", "--target", p.URL, "-n", "200", "-c", "4", "-warmup", "0", "--admin-token", p.AdminToken, "-json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep RunReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	res := rep.Load.Result
	if res.Requests != 200 || res.OK != 200 || res.Errors != 0 || len(res.NonOK) != 0 {
		t.Fatalf("want 200 successes, got %+v", res)
	}
	if rep.Stored == nil || *rep.Stored != 200 || !*rep.AllStored {
		t.Fatalf("stored %v, want 200", rep.Stored)
	}
	// And independently of the tool's own bookkeeping:
	api, err := newAPIClient(ctx, p.URL, p.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	total, err := api.EventTotal(ctx, p.Creds.ComponentAppID, defaultAppID)
	if err != nil {
		t.Fatal(err)
	}
	if total != 200 {
		t.Fatalf("/api/v1/events total = %d, want 200", total)
	}
}

func TestCompareTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a platform")
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"compare", "-n", "200", "-c", "4", "-rounds", "1", "-warmup", "100ms", "-json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep CompareReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rounds) != 1 || !rep.AllStored {
		t.Fatalf("report: %s", out.String())
	}
	r := rep.Rounds[0]
	for _, res := range []*Result{r.Floor.Result, r.Platform.Result} {
		if res.OK != 200 || res.Requests != 200 {
			t.Errorf("%s: %d ok of %d", res.Label, res.OK, res.Requests)
		}
	}
	if r.Platform.Stored != r.Platform.Acked || r.Platform.Acked < 200 {
		t.Errorf("stored %d, acked %d", r.Platform.Stored, r.Platform.Acked)
	}
	if r.Ratio <= 0 || rep.Median.FloorRPS <= 0 {
		t.Errorf("ratio %v, floor %v", r.Ratio, rep.Median.FloorRPS)
	}
	// Human output too.
	out.Reset()
	printCompare(&out, &rep)
	if !strings.Contains(out.String(), "median") || !strings.Contains(out.String(), "all stored  yes") {
		t.Errorf("human report:\n%s", out.String())
	}
}

// TestCompareApps spreads the load over several mini programs: every
// message goes to the message URL of the app its ToUserName names, and each
// app's events are stored under it.
func TestCompareApps(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a platform")
	}
	ids := fleetAppIDs(defaultAppID, 3)
	gen, err := NewGeneratorApps(defaultCredentials(), ids, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	pool := gen.Pool(300)
	seen := map[string]int{}
	for i := range pool.Len() {
		q, body := pool.Get(i)
		appID, rest, ok := strings.Cut(q, "?")
		if !ok || !slices.Contains(ids, appID) || !strings.HasPrefix(rest, "signature=") {
			t.Fatalf("query %q does not start with one of %v", q, ids)
		}
		sum := sha1.Sum([]byte(appID))
		if !strings.Contains(string(body), "gh_"+hex.EncodeToString(sum[:6])) {
			t.Fatalf("message to %s is addressed to another mini program: %s", appID, body)
		}
		seen[appID]++
	}
	if len(seen) != 3 {
		t.Fatalf("messages went to %v, want all 3 apps", seen)
	}

	p, err := StartPlatform(context.Background(), t.TempDir(), defaultCredentials(), false, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	target, err := parseTargetFor(context.Background(), p.URL, ids)
	if err != nil {
		t.Fatal(err)
	}
	cl := NewClient(target, 4, 10*time.Second)
	defer cl.Close()
	res := cl.Run(context.Background(), "apps", pool, RunOptions{Requests: 300})
	if res.OK != 300 {
		t.Fatalf("%d ok of %d: %+v", res.OK, res.Requests, res)
	}
	api, err := newAPIClient(context.Background(), p.URL, p.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		n, err := api.EventTotal(context.Background(), p.Creds.ComponentAppID, id)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(seen[id]) {
			t.Errorf("%s: %d events stored, %d sent", id, n, seen[id])
		}
	}
}

// A pool sized from too low an estimate runs dry; the run is repeated with a
// pool sized from the rate just seen, and every ack is still accounted for.
func TestMeasureRepeatsWhenPoolRunsDry(t *testing.T) {
	f, err := StartFloor("127.0.0.1:0", defaultCredentials(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gen, err := NewGenerator(defaultCredentials(), defaultAppID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	target, err := ParseTarget(context.Background(), f.URL(), defaultAppID)
	if err != nil {
		t.Fatal(err)
	}
	cl := NewClient(target, 2, 5*time.Second)
	defer cl.Close()
	s := LoadSettings{Conns: 2, Duration: 500 * time.Millisecond, Timeout: 5 * time.Second, MaxPool: 1_000_000, PoolSlack: 16}
	m := Measure(context.Background(), "floor", cl, gen, s, 1, nil) // expects 1 req/s: a pool of 17 messages
	if len(m.RanDry) == 0 || m.RanDry[0].StoppedBy != "pool exhausted" {
		t.Fatalf("the first pool did not run dry: %+v", m.Result)
	}
	if m.Result.StoppedBy != "duration" {
		t.Errorf("the repeat stopped by %s", m.Result.StoppedBy)
	}
	if got := f.Floor.accepted.Load(); got != m.acked() {
		t.Errorf("floor accepted %d, measurement counts %d acks", got, m.acked())
	}
}
