package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFleet measures the sandbox holding a fleet: WXFLEET_SANDBOX_FLEET
// mini programs (default 100,000) made and authorized through the bulk path
// (pushes to a platform that acknowledges them), then api_authorizer_token
// over HTTP, one call at a time and in parallel. It reports the time to create
// and to authorize the fleet, the process's RSS and Go heap with the fleet
// loaded, and the time to load the state again on restart.
//
//	go test -run '^$' -bench BenchmarkFleet -benchtime 2000x ./sandbox/
func BenchmarkFleet(b *testing.B) {
	n := 100_000
	if v := os.Getenv("WXFLEET_SANDBOX_FLEET"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	var pushes atomic.Int64
	plat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		pushes.Add(1)
		io.WriteString(w, "success")
	}))
	defer plat.Close()
	dir := b.TempDir()
	cfg := Config{DataDir: dir, PlatformURL: plat.URL, Logger: slog.New(slog.DiscardHandler),
		Components: []Component{{AppID: testComponent, Secret: testSecret, Token: testToken, AESKey: testAESKey}}}
	benchFleet(b, cfg, n, &pushes)
	start := time.Now()
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("restart: the state of %d apps loaded in %s", n, time.Since(start).Round(time.Millisecond))
	fi, _ := os.Stat(dir + "/" + dbFile)
	b.Logf("sandbox.db: %.1f MB", float64(fi.Size())/1e6)
	reportMemory(b, "after the restart")
	s.Close()
}

// benchFleet makes the fleet and runs the refresh benchmarks; everything it
// holds is garbage once it returns, so that the restart is measured alone.
func benchFleet(b *testing.B, cfg Config, n int, pushes *atomic.Int64) {
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	c := s.comps[0]
	start := time.Now()
	res, err := s.bulk(context.Background(), c, n, true, funcIDs(funcSetsFor(true)))
	if err != nil || res.PushFailures != 0 {
		b.Fatalf("bulk: %v, %d push failures", err, res.PushFailures)
	}
	b.Logf("fleet of %d: created in %d ms, authorized (%d pushes) in %d ms, %s in all",
		n, res.CreateMillis, pushes.Load(), res.AuthMillis, time.Since(start).Round(time.Millisecond))
	reportMemory(b, "with the fleet loaded")

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	s.mu.Lock()
	tok := s.issueComponentTokenLocked(c, s.now())
	refresh := make([]string, n)
	for i, id := range res.AppIDs {
		refresh[i] = s.st.Components[c.AppID].Authorizations[id].RefreshToken
	}
	s.mu.Unlock()
	url := srv.URL + "/cgi-bin/component/api_authorizer_token?component_access_token=" + tok
	var next atomic.Int64
	refreshOne := func(b *testing.B, client *http.Client) {
		i := int(next.Add(1)-1) % n
		body, _ := json.Marshal(map[string]string{"component_appid": c.AppID, "authorizer_appid": res.AppIDs[i], "authorizer_refresh_token": refresh[i]})
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			Errcode int    `json:"errcode"`
			Refresh string `json:"authorizer_refresh_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || out.Errcode != 0 {
			b.Fatalf("api_authorizer_token: errcode %d, %v", out.Errcode, err)
		}
		refresh[i] = out.Refresh
	}
	b.Run("api_authorizer_token", func(b *testing.B) {
		client := &http.Client{}
		for b.Loop() {
			refreshOne(b, client)
		}
	})
	b.Run("api_authorizer_token_parallel", func(b *testing.B) {
		b.SetParallelism(8) // the platform refreshes with many workers at once
		b.RunParallel(func(pb *testing.PB) {
			client := &http.Client{}
			for pb.Next() {
				refreshOne(b, client)
			}
		})
	})
	reportMemory(b, "after the refreshes")
	srv.Close()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

// reportMemory logs the process's resident set (now and peak) and the live Go heap.
func reportMemory(b *testing.B, when string) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm := procStatus("VmRSS"), procStatus("VmHWM")
	b.Logf("%s: RSS %d MB (peak %d MB), Go heap in use %d MB, Go runtime total %d MB",
		when, rss>>10, hwm>>10, ms.HeapInuse>>20, ms.Sys>>20)
}

// procStatus reads a kB figure from /proc/self/status (Linux); 0 elsewhere.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
