package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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
