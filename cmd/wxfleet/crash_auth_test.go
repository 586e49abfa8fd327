package main

import (
	"database/sql"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// crashTimeoutScale shortens River's rescue delay in the test below from
// 3 minutes (the 2-minute authorization timeout plus a minute) to 5 s.
const crashTimeoutScale = "0.0278"

// A platform killed while it exchanges an authorization code leaves the job
// running in River's table. After the restart River must take it back long
// before the code (valid one hour) expires, and the authorizer appear.
//
// WeChat is a separate `wxfleet sandbox` process whose api_query_auth is
// held back by a latency fault, so the job is surely running at the kill.
func TestAuthorizationSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wxfleet serve twice and wxfleet sandbox")
	}
	// In parallel: it mostly waits for its child processes (under -race
	// 23 s of wall clock for 6 s of CPU).
	t.Parallel()
	dir := t.TempDir()
	// The sandbox must know where to push before the platform has a port, and
	// the restarted platform gets another: a proxy of the test's own stands
	// in front of whichever is running.
	var platform atomic.Pointer[url.URL]
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if u := platform.Load(); u != nil {
			r.SetURL(u)
		}
	}})
	defer proxy.Close()
	sandboxURL := startSandboxProcess(t, filepath.Join(dir, "sandbox"), proxy.URL)
	sb := func(method, path string, body, out any) int {
		return do(t, method, sandboxURL+path, nil, body, out)
	}
	scale := "WXFLEET_TEST_JOB_TIMEOUT_SCALE=" + crashTimeoutScale
	p := startServeWith(t, dir, sandboxURL, scale)
	setTarget(t, &platform, p.url)
	api := func(p *serveProcess, method, path string, body, out any) int {
		return do(t, method, p.url+path, map[string]string{"Authorization": "Bearer crash-admin-token-of-at-least-32-chars"}, body, out)
	}
	waitFor(t, 30*time.Second, "a valid component_verify_ticket", func() bool {
		var out struct {
			Items []struct {
				TicketValid bool `json:"ticket_valid"`
			} `json:"items"`
		}
		api(p, "GET", "/api/v1/platforms", nil, &out)
		return len(out.Items) == 1 && out.Items[0].TicketValid
	})

	var apps struct {
		Items []sbApp `json:"items"`
	}
	sb("GET", "/sandbox/api/apps", nil, &apps)
	appID := ""
	for _, a := range apps.Items {
		if a.IsMini {
			appID = a.AppID
			break
		}
	}
	const exchange = "/cgi-bin/component/api_query_auth"
	if st := sb("POST", "/sandbox/api/faults", map[string]any{"path": exchange, "latency": "10m"}, nil); st != 200 && st != 201 {
		t.Fatalf("adding the latency fault: %d", st)
	}
	var link struct {
		PCURL string `json:"pc_url"`
	}
	if st := api(p, "POST", "/api/v1/authorization-links", map[string]any{"merchant": "crash-merchant"}, &link); st != 201 {
		t.Fatalf("authorization link: %d", st)
	}
	// Only the push's job exchanges the code: the browser's redirect is not
	// followed.
	if st := sb("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": appID}, nil); st != 200 {
		t.Fatalf("sandbox authorize: %d", st)
	}
	waitFor(t, 30*time.Second, "the job's call to "+exchange, func() bool {
		var calls struct {
			InFlight map[string]int `json:"in_flight"`
		}
		sb("GET", "/sandbox/api/calls", nil, &calls)
		return calls.InFlight[exchange] > 0
	})
	db := openJobTable(t, filepath.Join(dir, "wxfleet.db"))
	if state := jobState(t, db); state != "running" {
		t.Fatalf("complete_authorization is %q while WeChat holds its call, want running", state)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if state := jobState(t, db); state != "running" {
		t.Fatalf("after the kill the job is %q, want it left running", state)
	}
	sb("DELETE", "/sandbox/api/faults", nil, nil)

	p2 := startServeWith(t, dir, sandboxURL, scale)
	setTarget(t, &platform, p2.url)
	waitFor(t, 75*time.Second, "the authorizer after the restart", func() bool {
		var a apiAuthorizer
		st := api(p2, "GET", "/api/v1/authorizers/"+appID, nil, &a)
		return st == 200 && a.Status == "authorized" && a.Merchant == "crash-merchant"
	}, func() string { return "the job: " + jobRow(t, db) + "\nthe platform's output:\n" + p2.output() })
	waitFor(t, 15*time.Second, "the job to complete", func() bool { return jobState(t, db) == "completed" },
		func() string { return jobRow(t, db) })
	if row := jobRow(t, db); !strings.Contains(row, "attempt 2,") || !strings.Contains(row, "Stuck job rescued") {
		t.Errorf("the job was not rescued and retried: %s", row)
	}
	p2.cmd.Process.Signal(os.Interrupt)
	<-p2.exited
}

// setTarget points the test's proxy at a platform.
func setTarget(t *testing.T, target *atomic.Pointer[url.URL], raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)
}

// startSandboxProcess runs `wxfleet sandbox` on a free port, pushing to
// platformURL, and returns its URL.
func startSandboxProcess(t *testing.T, dir, platformURL string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "sandbox", "--addr", "127.0.0.1:0", "--data", dir, "--platform-url", platformURL)
	cmd.Env = append(os.Environ(),
		"WXFLEET_TEST_RUN_MAIN=1",
		"WXFLEET_COMPONENT_APPID="+crashPlatform.appID,
		"WXFLEET_COMPONENT_SECRET="+crashPlatform.secret,
		"WXFLEET_COMPONENT_TOKEN="+crashPlatform.token,
		"WXFLEET_COMPONENT_AES_KEY="+crashPlatform.aesKey,
	)
	logs := &strings.Builder{}
	var mu sync.Mutex
	cmd.Stdout = lockedWriter{&mu, logs}
	cmd.Stderr = lockedWriter{&mu, logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	output := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	serving := regexp.MustCompile(`WeChat sandbox: (http://127\.0\.0\.1:\d+)`)
	var u string
	waitFor(t, 30*time.Second, "wxfleet sandbox to serve", func() bool {
		select {
		case <-exited:
			t.Fatalf("wxfleet sandbox exited; its output:\n%s", output())
		default:
		}
		if m := serving.FindStringSubmatch(output()); m != nil {
			u = m[1]
		}
		return u != ""
	})
	return u
}

// openJobTable opens the platform's SQLite database read-only, to look at
// River's job table from outside the process.
func openJobTable(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// jobState is the state of the one complete_authorization job.
func jobState(t *testing.T, db *sql.DB) string {
	t.Helper()
	var state string
	if err := db.QueryRow(`SELECT state FROM river_job WHERE kind = 'complete_authorization'`).Scan(&state); err != nil {
		t.Fatalf("reading the job: %v", err)
	}
	return state
}

// jobRow describes the complete_authorization job, for failure messages.
func jobRow(t *testing.T, db *sql.DB) string {
	var state, errs, attempted string
	var attempt int
	if err := db.QueryRow(`SELECT state, attempt, COALESCE(attempted_at, ''), COALESCE(errors, '') FROM river_job WHERE kind = 'complete_authorization'`).Scan(&state, &attempt, &attempted, &errs); err != nil {
		return err.Error()
	}
	var leader string
	db.QueryRow(`SELECT leader_id || ' elected ' || elected_at || ' expires ' || expires_at FROM river_leader`).Scan(&leader)
	return fmt.Sprintf("state %s, attempt %d, attempted at %s, errors %s; leader %s; now %s", state, attempt, attempted, errs, leader, time.Now().UTC())
}

// waitFor polls cond until it holds or the deadline passes; detail, if
// given, says more on failure.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			more := ""
			for _, f := range detail {
				more += "\n" + f()
			}
			t.Fatalf("timed out after %s waiting for %s%s", d, what, more)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
