package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

// TestMain lets a test start this binary as the real wxfleet command in a
// process of its own, which it can then kill.
func TestMain(m *testing.M) {
	if os.Getenv("WXFLEET_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashPlatform is the platform of the crash test (test credentials only).
var crashPlatform = struct{ appID, secret, token, aesKey string }{
	"wxcrash000000001", "crashsecret", "crashtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}

type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	logs   *strings.Builder
	output func() string // what it printed so far
	exited chan struct{} // closed once the process has ended
}

func startServe(t *testing.T, dir string) *serveProcess {
	t.Helper()
	return startServeWith(t, dir, "http://127.0.0.1:1")
}

// startServeWith starts `wxfleet serve` on dir with WeChat at wechatURL and
// extra environment variables.
func startServeWith(t *testing.T, dir, wechatURL string, env ...string) *serveProcess {
	t.Helper()
	// No drain by default: a test stopping serve need not wait (the drain
	// test sets its own).
	return startServeBinary(t, os.Args[0], dir, wechatURL, append([]string{"WXFLEET_SHUTDOWN_DRAIN=0s"}, env...)...)
}

// startServeBinary starts `bin serve` (this test binary, or another
// wxfleet such as an older release) like startServeWith.
func startServeBinary(t *testing.T, bin, dir, wechatURL string, env ...string) *serveProcess {
	t.Helper()
	// Port 0: the process binds a free port itself and logs its URL (a port
	// picked here and freed could be taken by another test meanwhile).
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", dir, "--wechat-url", wechatURL)
	cmd.Env = append(append(os.Environ(), env...),
		"WXFLEET_TEST_RUN_MAIN=1",
		"WXFLEET_COMPONENT_APPID="+crashPlatform.appID,
		"WXFLEET_COMPONENT_SECRET="+crashPlatform.secret,
		"WXFLEET_COMPONENT_TOKEN="+crashPlatform.token,
		"WXFLEET_COMPONENT_AES_KEY="+crashPlatform.aesKey,
		"WXFLEET_ADMIN_TOKEN=crash-admin-token-of-at-least-32-chars",
	)
	logs := &strings.Builder{}
	var mu sync.Mutex
	cmd.Stdout = lockedWriter{&mu, logs}
	cmd.Stderr = lockedWriter{&mu, logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // Wait also finishes copying the output
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	output := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	serving := regexp.MustCompile(`msg="wxfleet serving" url=(http://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("wxfleet serve exited before serving; its output:\n%s", output())
		default:
		}
		if m := serving.FindStringSubmatch(output()); m != nil {
			return &serveProcess{cmd: cmd, url: m[1], logs: logs, output: output, exited: exited}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wxfleet serve not serving after 30 s; its output:\n%s", output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestAckedPushesSurviveKill sends user messages from many connections,
// kills the platform with SIGKILL in the middle, restarts it, and checks that
// every push acknowledged before the kill is stored: on SQLite an ack means
// the push is in the ingest journal, and the journal is replayed at start.
func TestAckedPushesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wxfleet twice")
	}
	dir := t.TempDir()
	p := startServe(t, dir)
	crypter, err := wxcrypt.New(crashPlatform.token, crashPlatform.aesKey, crashPlatform.appID)
	if err != nil {
		t.Fatal(err)
	}
	const appID = "wxcrashapp000001"
	var (
		acked   sync.Map // MsgId → true
		nAcked  atomic.Int64
		next    atomic.Int64
		stopped = make(chan struct{})
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopped:
					return
				default:
				}
				id := 61000000000000000 + next.Add(1)
				plain := fmt.Sprintf("<xml><ToUserName><![CDATA[gh_crash]]></ToUserName><FromUserName><![CDATA[o_user%d]]></FromUserName>"+
					"<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[第 %d 条消息]]></Content><MsgId>%d</MsgId></xml>",
					id%7, time.Now().Unix(), id, id)
				ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), strconv.FormatInt(id, 10)
				enc, sig, err := crypter.Seal([]byte(plain), ts, nonce)
				if err != nil {
					t.Error(err)
					return
				}
				q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "msg_signature": {sig}, "encrypt_type": {"aes"}, "openid": {"o_user"}}
				resp, err := client.Post(p.url+"/wechat/apps/"+appID+"?"+q.Encode(), "text/xml", strings.NewReader(string(wxcrypt.MessageEnvelope("gh_crash", enc))))
				if err != nil {
					continue // killed mid-request: never acknowledged
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && string(body) == "success" {
					acked.Store(id, true)
					nAcked.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for nAcked.Load() < 2000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	close(stopped)
	wg.Wait()
	n := nAcked.Load()
	if n < 100 {
		t.Fatalf("only %d pushes acknowledged before the kill; output:\n%s", n, p.logs.String())
	}
	journal, _ := filepath.Glob(filepath.Join(dir, "*-ingest.*.log"))
	if len(journal) == 0 {
		t.Fatalf("no ingest journal left in %s after the kill", dir)
	}

	p2 := startServe(t, dir)
	stored := storedMsgIDs(t, p2.url, "crash-admin-token-of-at-least-32-chars")
	missing := 0
	acked.Range(func(k, _ any) bool {
		if !stored[k.(int64)] {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged pushes lost in the kill (stored %d)", missing, n, len(stored))
	}
	t.Logf("killed after %d acks; all stored after restart (%d stored, the rest were in flight)", n, len(stored))
	p2.cmd.Process.Signal(os.Interrupt)
	<-p2.exited
	if !strings.Contains(p2.logs.String(), "replayed") {
		t.Fatalf("the restart did not replay the journal; its output:\n%s", p2.logs.String())
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*-ingest.*.log"))
	if len(left) != 0 {
		t.Fatalf("journal segments left after a clean stop: %v\n%s", left, p2.logs.String())
	}
}
