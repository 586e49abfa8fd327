package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/server"
)

// Platform is a real wxfleet platform booted in this process on SQLite, with
// one third-party platform configured from the load's credentials.
type Platform struct {
	Server     *server.Server
	URL        string
	AdminToken string
	Creds      Credentials
}

// StartPlatform boots a platform with its database in dir. WeChat's hosts
// point at a closed loopback port: the platform warns once that it cannot ask
// for a component_verify_ticket, which pushes to the message URL do not need.
// The serving goroutines inherit the caller's profiler labels.
func StartPlatform(ctx context.Context, dir string, creds Credentials, syncFull bool, logger *slog.Logger) (*Platform, error) {
	dsn := filepath.Join(dir, "wxfleet.db")
	if syncFull {
		dsn += "?synchronous=full"
	}
	return startPlatformOn(ctx, dsn, creds, logger)
}

// startPlatformOn is StartPlatform on the database dsn (a SQLite path or a
// postgres:// URL).
func startPlatformOn(ctx context.Context, dsn string, creds Credentials, logger *slog.Logger) (*Platform, error) {
	closed, err := closedPort()
	if err != nil {
		return nil, err
	}
	admin := randomHex(16)
	master := make([]byte, 32)
	rand.Read(master)
	srv, err := server.New(ctx, server.Config{
		Addr:       "127.0.0.1:0",
		Database:   dsn,
		WeChatURL:  "http://" + closed,
		AdminToken: wxfleet.Secret(admin),
		MasterKey:  master,
		Platforms: []wxfleet.Platform{{
			AppID:  creds.ComponentAppID,
			Name:   "wxload",
			Token:  wxfleet.Secret(creds.Token),
			AESKey: wxfleet.Secret(creds.AESKey),
			Secret: wxfleet.Secret(randomHex(16)),
		}},
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("booting the platform: %w", err)
	}
	if err := srv.Listen(); err != nil {
		srv.Close()
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		srv.Close()
		return nil, err
	}
	return &Platform{Server: srv, URL: srv.URL(), AdminToken: admin, Creds: creds}, nil
}

// Close stops the platform and closes its database.
func (p *Platform) Close() error { return p.Server.Close() }

// closedPort returns a loopback address nothing listens on.
func closedPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// apiClient reads the platform's API and metrics (loopback only, like the load).
type apiClient struct {
	base, token string
	http        *http.Client
}

func newAPIClient(ctx context.Context, base, token string) (*apiClient, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("platform URL %q is not a URL", base)
	}
	if _, err := loopbackIP(ctx, u.Hostname()); err != nil {
		return nil, err
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{
		Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil},
	}}, nil
}

// EventTotal asks GET /api/v1/events how many events the platform stored for
// authorizer appID.
func (a *apiClient) EventTotal(ctx context.Context, componentAppID, appID string) (int64, error) {
	q := url.Values{"platform": {componentAppID}, "appid": {appID}, "limit": {"1"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/api/v1/events?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET /api/v1/events: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /api/v1/events: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		Total *int64 `json:"total"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Total == nil {
		return 0, fmt.Errorf("GET /api/v1/events: no total in the answer")
	}
	return *out.Total, nil
}

// Histogram is a scraped Prometheus histogram: cumulative bucket counts by
// upper bound.
type Histogram struct {
	Count, Sum float64
	Buckets    map[float64]float64
}

// Sub returns h - before: what was observed between two scrapes.
func (h Histogram) Sub(before Histogram) Histogram {
	d := Histogram{Count: h.Count - before.Count, Sum: h.Sum - before.Sum, Buckets: map[float64]float64{}}
	for le, n := range h.Buckets {
		d.Buckets[le] = n - before.Buckets[le]
	}
	return d
}

// Quantile returns the upper bound of the bucket holding quantile q.
func (h Histogram) Quantile(q float64) float64 {
	les := make([]float64, 0, len(h.Buckets))
	for le := range h.Buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	for _, le := range les {
		if h.Buckets[le] >= q*h.Count {
			return le
		}
	}
	return 0
}

// Histogram scrapes GET /metrics for one histogram; ok is false when the
// platform does not export it.
func (a *apiClient) Histogram(ctx context.Context, name string) (h Histogram, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return h, false, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token) // /metrics takes the admin token by default
	resp, err := a.http.Do(req)
	if err != nil {
		return h, false, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, false, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	h.Buckets = map[float64]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, name)
		if !found {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err != nil {
			continue
		}
		switch series := rest[:i]; {
		case series == "_count":
			h.Count, ok = v, true
		case series == "_sum":
			h.Sum = v
		case strings.HasPrefix(series, `_bucket{le="`):
			le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(series, `_bucket{le="`), `"}`), 64)
			if err == nil {
				h.Buckets[le] = v
			}
		}
	}
	return h, ok, sc.Err()
}

// logCounts counts log records a cappedHandler kept out of the output.
type logCounts struct {
	dropped  atomic.Int64 // over the limit
	expected atomic.Int64 // foreseen by wxload, summarised instead
}

// cappedHandler passes through at most a few log records and counts the rest:
// a platform that refuses every push logs a line per request, which would
// both flood the terminal and slow the measured run. Records that expected
// recognises (the platform failing to reach the stand-in WeChat) are only
// counted.
type cappedHandler struct {
	slog.Handler
	left     *atomic.Int64
	counts   *logCounts
	expected func(msg string) bool
}

func newCappedLogger(w io.Writer, level slog.Level, limit int64, expected func(string) bool) (*slog.Logger, *logCounts) {
	left, counts := new(atomic.Int64), new(logCounts)
	left.Store(limit)
	h := cappedHandler{slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), left, counts, expected}
	return slog.New(h), counts
}

func (h cappedHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.expected != nil && h.expected(r.Message) {
		h.counts.expected.Add(1)
		return nil
	}
	if h.left.Add(-1) < 0 {
		h.counts.dropped.Add(1)
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h cappedHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return cappedHandler{h.Handler.WithAttrs(a), h.left, h.counts, h.expected}
}

func (h cappedHandler) WithGroup(n string) slog.Handler {
	return cappedHandler{h.Handler.WithGroup(n), h.left, h.counts, h.expected}
}

// unreachableWeChat tells the platform's warnings about asking the stand-in
// WeChat for a component_verify_ticket, which compare expects.
func unreachableWeChat(msg string) bool { return strings.Contains(msg, "api_start_push_ticket") }
