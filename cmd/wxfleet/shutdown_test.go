package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

// SIGTERM in the middle of push load: `wxfleet serve` stops taking pushes,
// flushes the ingest journal and exits 0 within its deadline, although a
// call to WeChat is hanging; every push it acknowledged is stored, and the
// next start has nothing to replay.
func TestSIGTERMKeepsEveryAcknowledgedPush(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wxfleet twice")
	}
	// WeChat that never answers: the platform's call for a ticket hangs
	// until shutdown cuts it off.
	var calls atomic.Int64
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body) // so that a closed connection ends r's context
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	dir := t.TempDir()
	p := startServeWith(t, dir, hang.URL)
	load := startPushLoad(t, p.url, crashPlatform.token, crashPlatform.aesKey, crashPlatform.appID, "wxtermapp0000001", 16, 63000000000000000)
	load.waitAcked(2000)
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if calls.Load() == 0 {
		t.Fatal("the platform never called WeChat")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("serve still running 40 s after SIGTERM; its output:\n%s", p.output())
	}
	load.halt()
	acked := load.snapshot()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("serve exited with %d after SIGTERM; output:\n%s", code, p.output())
	}
	out := p.output()
	for _, want := range []string{"no longer taking requests", "shutdown complete"} {
		if !strings.Contains(out, want) {
			t.Errorf("the shutdown log lacks %q:\n%s", want, tail(out, 30))
		}
	}
	// The jobs either finished in time or, when one hung on WeChat past the
	// soft deadline, were cancelled and handed back.
	if !strings.Contains(out, "job workers stopped; running jobs finished") && !strings.Contains(out, "running jobs cancelled and handed back") {
		t.Errorf("the shutdown log says nothing of the jobs:\n%s", tail(out, 30))
	}
	t.Logf("the shutdown:\n%s", shutdownLines(out))
	if left, _ := filepath.Glob(filepath.Join(dir, "*-ingest.*.log")); len(left) != 0 {
		t.Fatalf("journal segments left after SIGTERM (not flushed): %v", left)
	}

	p2 := startServe(t, dir)
	stored := storedMsgIDs(t, p2.url, "crash-admin-token-of-at-least-32-chars")
	if n := missing(acked, stored); n > 0 {
		t.Fatalf("%d of %d acknowledged pushes lost across SIGTERM (%d stored)", n, len(acked), len(stored))
	}
	if strings.Contains(p2.output(), "replayed") {
		t.Errorf("the next start replayed the journal: the shutdown did not flush it")
	}
	t.Logf("SIGTERM after %d acknowledged pushes: all stored (%d stored; the rest were refused or in flight)", len(acked), len(stored))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// shutdownLines picks the log lines of the shutdown from serve's output.
func shutdownLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "shut") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// From the moment SIGTERM arrives /readyz answers 503 {"status":"draining"},
// so a load balancer stops sending, while the server keeps serving: a push
// whose body was still arriving when the signal came is answered "success",
// and new requests are still answered during the drain. Then serve exits 0.
func TestReadyzDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wxfleet")
	}
	// In parallel: it mostly waits out its child's drain (under -race 16 s
	// of wall clock for 3 s of CPU).
	t.Parallel()
	dir := t.TempDir()
	// A drain long enough that the test's requests fall inside it on a busy machine.
	p := startServeWith(t, dir, "http://127.0.0.1:1", "WXFLEET_SHUTDOWN_DRAIN=12s")
	get := func(path string) (int, string) {
		resp, err := http.Get(p.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("/readyz"); st != 200 {
		t.Fatalf("/readyz before SIGTERM: %d %s", st, body)
	}

	// A push in flight: its headers and half its body are sent, the rest after SIGTERM.
	crypter, err := wxcrypt.New(crashPlatform.token, crashPlatform.aesKey, crashPlatform.appID)
	if err != nil {
		t.Fatal(err)
	}
	plain := fmt.Sprintf("<xml><ToUserName><![CDATA[gh_drain]]></ToUserName><FromUserName><![CDATA[o_drain]]></FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[停止时在途]]></Content><MsgId>64000000000000001</MsgId></xml>", time.Now().Unix())
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "64000000000000001"
	enc, sig, err := crypter.Seal([]byte(plain), ts, nonce)
	if err != nil {
		t.Fatal(err)
	}
	body := wxcrypt.MessageEnvelope("gh_drain", enc)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "msg_signature": {sig}, "encrypt_type": {"aes"}, "openid": {"o_drain"}}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", p.url+"/wechat/apps/wxdrainapp000001?"+q.Encode(), pr)
	req.ContentLength = int64(len(body))
	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- answer{resp.StatusCode, string(b), nil}
	}()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var st int
	var rb string
	for {
		st, rb = get("/readyz")
		if st == 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ready struct{ Status, Reason string }
	json.Unmarshal([]byte(rb), &ready)
	if st != 503 || ready.Status != "draining" || ready.Reason == "" {
		t.Fatalf("/readyz after SIGTERM: %d %s; want 503 with status draining", st, rb)
	}
	select {
	case a := <-answered:
		t.Fatalf("the push in flight was answered before its body was complete: %+v", a)
	default:
	}
	if st, body := get("/healthz"); st != 200 {
		t.Fatalf("/healthz while draining: %d %s (want still served)", st, body)
	}
	if _, err := pw.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	a := <-answered
	if a.err != nil || a.status != 200 || a.body != "success" {
		t.Fatalf("the push in flight at SIGTERM: %+v; want 200 success", a)
	}
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("serve still running 40 s after SIGTERM:\n%s", p.output())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, tail(p.output(), 20))
	}
	if out := p.output(); !strings.Contains(out, "shutdown: draining") || !strings.Contains(out, "shutdown complete") {
		t.Fatalf("the shutdown log lacks the drain:\n%s", shutdownLines(out))
	}
}
