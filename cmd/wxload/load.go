package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxRun bounds a run: every message is stamped when it is generated, and the
// platform refuses timestamps more than 5 minutes off its clock.
const maxRun = 4 * time.Minute

// Target is a loopback message URL: POST http://host:port/.../wechat/apps/{appid}.
type Target struct {
	URL      *url.URL // scheme, host and path; the query is per message
	dialAddr string   // the loopback ip:port every connection goes to
	// PerMessageApp: URL's path ends in /wechat/apps/ and each message's
	// query string starts with its appid and "?" (a multi-app Generator's).
	PerMessageApp bool
}

// ParseTargetApps is ParseTarget for a Generator of several mini programs.
func ParseTargetApps(ctx context.Context, base string) (*Target, error) {
	t, err := ParseTarget(ctx, base, "")
	if err != nil {
		return nil, err
	}
	t.PerMessageApp = true
	return t, nil
}

// ParseTarget checks that base is an http URL on a loopback address and
// returns the message URL of appID under it. Load on any other address is
// refused: the workplace forbids it.
func ParseTarget(ctx context.Context, base, appID string) (*Target, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("target %q is not a URL like http://127.0.0.1:8080", base)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("target %q: only http:// is supported (the platform's message URL on loopback)", base)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	ip, err := loopbackIP(ctx, host)
	if err != nil {
		return nil, err
	}
	path := strings.TrimRight(u.Path, "/")
	if suffix := "/wechat/apps/" + appID; !strings.HasSuffix(path, suffix) {
		path += suffix
	}
	return &Target{
		URL:      &url.URL{Scheme: "http", Host: u.Host, Path: path},
		dialAddr: net.JoinHostPort(ip.String(), port),
	}, nil
}

// loopbackIP resolves host and insists that every address it has is loopback.
func loopbackIP(ctx context.Context, host string) (net.IP, error) {
	refuse := func(what string) error {
		return fmt.Errorf("refusing to send load to %s: wxload only targets loopback addresses (127.0.0.0/8, ::1, localhost) — load on other addresses is forbidden here", what)
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return nil, refuse(host)
		}
		return ip, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(rctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %q: no address", host)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return nil, refuse(fmt.Sprintf("%s (%s)", host, a.IP))
		}
	}
	return addrs[0].IP, nil
}

// Client is a keep-alive HTTP/1.1 client holding at most conns connections to
// one target; one worker per connection keeps each of them busy.
type Client struct {
	target *Target
	conns  int
	tr     *http.Transport
	http   *http.Client
	dials  atomic.Int64
}

// NewClient returns a client for target with conns connections.
func NewClient(target *Target, conns int, timeout time.Duration) *Client {
	c := &Client{target: target, conns: conns}
	var d net.Dialer
	c.tr = &http.Transport{
		Proxy: nil, // never through a proxy: loopback only
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			// Always the address checked by ParseTarget, whatever DNS says now.
			conn, err := d.DialContext(ctx, "tcp", target.dialAddr)
			if err != nil {
				return nil, err
			}
			if a, ok := conn.RemoteAddr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
				conn.Close()
				return nil, fmt.Errorf("refusing non-loopback connection to %v", conn.RemoteAddr())
			}
			c.dials.Add(1)
			return conn, nil
		},
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		MaxIdleConns:        conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	c.tr.Protocols = new(http.Protocols)
	c.tr.Protocols.SetHTTP1(true) // HTTP/1.1 keep-alive, as WeChat sends

	c.http = &http.Client{Transport: c.tr, Timeout: timeout}
	return c
}

// Close drops the idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// RunOptions bound a run: it stops after Requests requests or Duration,
// whichever comes first, or when the source runs dry.
type RunOptions struct {
	Requests int           // 0: no limit
	Duration time.Duration // 0: maxRun
}

// Result is what one run measured.
type Result struct {
	Label       string           `json:"label"`
	Requests    int64            `json:"requests"` // completed: ok + non_ok + errors
	OK          int64            `json:"ok"`       // 200 with body "success"
	NonOK       map[string]int64 `json:"non_ok,omitempty"`
	Errors      int64            `json:"errors"`
	ErrorSample []string         `json:"error_sample,omitempty"`
	BodySample  string           `json:"non_ok_body_sample,omitempty"`
	Seconds     float64          `json:"seconds"`
	RPS         float64          `json:"req_per_s"`
	P50ms       float64          `json:"p50_ms"`
	P90ms       float64          `json:"p90_ms"`
	P99ms       float64          `json:"p99_ms"`
	MaxMs       float64          `json:"max_ms"`
	Conns       int              `json:"connections"`
	Dials       int64            `json:"connections_opened"` // during this run; 0 after a warm-up
	// CPUs kept busy on average during the run (Linux): this process (the
	// generator, plus the server when it runs in-process) and everything else
	// on the machine, which is noise.
	SelfCPUs  float64 `json:"process_cpus,omitempty"`
	OtherCPUs float64 `json:"other_cpus,omitempty"`
	StoppedBy string  `json:"stopped_by"` // duration, requests, pool exhausted, interrupted
}

type workerStats struct {
	ok, errs   int64
	lat        []time.Duration
	status     map[int]int64
	errSample  []string
	bodySample string
}

var errorSampleSize = 3

// Run sends messages from src with one worker per connection until a bound
// is reached; requests in flight then complete and are counted.
func (c *Client) Run(ctx context.Context, label string, src source, opts RunOptions) *Result {
	d := opts.Duration
	if d <= 0 || d > maxRun {
		d = maxRun
	}
	expect := opts.Requests
	if p, ok := src.(*Pool); ok && (expect == 0 || p.Len() < expect) {
		expect = p.Len()
	}
	dials := c.dials.Load()
	header := http.Header{"Content-Type": {"text/xml"}, "User-Agent": {"wxload"}}
	stats := make([]*workerStats, c.conns)
	var claimed atomic.Int64
	var exhausted atomic.Bool
	cpu0 := takeCPU()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	// The label tells the generator's CPU from the server's in a profile of
	// this process; the transport's goroutines inherit it when they dial.
	pprof.Do(ctx, pprof.Labels("side", "load"), func(ctx context.Context) {
		for w := range c.conns {
			st := &workerStats{lat: make([]time.Duration, 0, expect/c.conns+64)}
			stats[w] = st
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(deadline) {
					if opts.Requests > 0 && claimed.Add(1) > int64(opts.Requests) {
						return
					}
					q, body, ok := src.next()
					if !ok {
						exhausted.Store(true)
						return
					}
					c.one(ctx, st, header, q, body)
				}
			})
		}
	})
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := takeCPU()

	r := &Result{Label: label, Conns: c.conns, Seconds: elapsed.Seconds(), Dials: c.dials.Load() - dials}
	r.SelfCPUs, r.OtherCPUs = cpuUsage(cpu0, cpu1, elapsed)
	var lat []time.Duration
	for _, st := range stats {
		r.OK += st.ok
		r.Errors += st.errs
		lat = append(lat, st.lat...)
		for code, n := range st.status {
			if r.NonOK == nil {
				r.NonOK = map[string]int64{}
			}
			r.NonOK[strconv.Itoa(code)] += n
		}
		for _, e := range st.errSample {
			if len(r.ErrorSample) < errorSampleSize && !slices.Contains(r.ErrorSample, e) {
				r.ErrorSample = append(r.ErrorSample, e)
			}
		}
		if r.BodySample == "" {
			r.BodySample = st.bodySample
		}
	}
	r.Requests = int64(len(lat))
	r.RPS = float64(r.Requests) / elapsed.Seconds()
	slices.Sort(lat)
	r.P50ms, r.P90ms, r.P99ms = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.90)), ms(percentile(lat, 0.99))
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
	}
	switch {
	case ctx.Err() != nil:
		r.StoppedBy = "interrupted"
	case exhausted.Load():
		r.StoppedBy = "pool exhausted"
	case opts.Requests > 0 && claimed.Load() >= int64(opts.Requests):
		r.StoppedBy = "requests"
	default:
		r.StoppedBy = "duration"
	}
	return r
}

// one sends a message and records the outcome.
func (c *Client) one(ctx context.Context, st *workerStats, header http.Header, query string, body []byte) {
	u := *c.target.URL
	if c.target.PerMessageApp {
		appID, rest, _ := strings.Cut(query, "?")
		u.Path += appID
		query = rest
	}
	u.RawQuery = query
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           &u,
		Host:          u.Host,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header, // only read by the transport, so shared
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}).WithContext(ctx)
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		st.lat = append(st.lat, time.Since(t0))
		st.errs++
		if len(st.errSample) < errorSampleSize {
			// Without the URL: its query is long and the same for nobody.
			msg := err.Error()
			var ue *url.Error
			if errors.As(err, &ue) {
				msg = ue.Err.Error()
			}
			st.errSample = append(st.errSample, msg)
		}
		return
	}
	var buf [512]byte
	n, _ := io.ReadFull(resp.Body, buf[:])
	if n == len(buf) {
		io.Copy(io.Discard, resp.Body) // keep the connection reusable
	}
	resp.Body.Close()
	st.lat = append(st.lat, time.Since(t0))
	if resp.StatusCode == http.StatusOK && string(buf[:n]) == "success" {
		st.ok++
		return
	}
	if st.status == nil {
		st.status = map[int]int64{}
	}
	st.status[resp.StatusCode]++
	if st.bodySample == "" {
		st.bodySample = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(buf[:n])))
	}
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Measurement is a warm-up and a timed run against one server.
type Measurement struct {
	Warmup *Result   `json:"warmup,omitempty"`
	Result *Result   `json:"result"`
	Pool   *PoolInfo `json:"messages"`
	// RanDry are timed runs that used up their pool before the duration was
	// over; each was repeated with a pool sized from its rate.
	RanDry []*Result `json:"ran_dry,omitempty"`
}

// PoolInfo describes the messages of a timed run.
type PoolInfo struct {
	Mode            string  `json:"mode"`
	Messages        int     `json:"pre_generated"`
	Used            int     `json:"used"`
	GenerateSeconds float64 `json:"generate_s"`
	AvgPlainBytes   float64 `json:"avg_plaintext_bytes"`
	AvgBodyBytes    float64 `json:"avg_body_bytes"`
}

// acked is how many pushes the server acknowledged, warm-ups and repeated
// runs included.
func (m *Measurement) acked() int64 {
	n := m.Result.OK
	if m.Warmup != nil {
		n += m.Warmup.OK
	}
	for _, r := range m.RanDry {
		n += r.OK
	}
	return n
}

// Measure warms the server up and then times a run of pre-generated
// messages. rate is the expected req/s, which sizes the pool; with 0 and no
// -n the warm-up runs first and gives the estimate. beforeTimed, if set, runs
// just before each timed run (metrics scrape, profiler start).
func Measure(ctx context.Context, label string, cl *Client, gen *Generator, s LoadSettings, rate float64, beforeTimed func()) *Measurement {
	m := &Measurement{}
	warmed := false
	if s.Requests == 0 && rate == 0 {
		d := s.Warmup
		if d == 0 {
			d = time.Second
		}
		m.Warmup = cl.Run(ctx, label+" warm-up", live{gen}, RunOptions{Duration: d})
		rate, warmed = m.Warmup.RPS, true
	}
	for attempt := 0; ; attempt++ {
		size := s.Requests
		if size == 0 {
			// Twice the expected need: warm-ups and probes underestimate.
			slack := s.PoolSlack
			if slack <= 0 {
				slack = 2048
			}
			size = min(int(rate*s.Duration.Seconds()*2)+slack, s.MaxPool)
		}
		pool := gen.Pool(size)
		runtime.GC() // start the timed run from a clean heap, the same for every server
		if !warmed && s.Warmup > 0 && ctx.Err() == nil {
			w := cl.Run(ctx, label+" warm-up", live{gen}, RunOptions{Duration: s.Warmup})
			if m.Warmup == nil {
				m.Warmup = w
			} else { // a repeat: fold its acks into the warm-up's
				m.Warmup.OK += w.OK
				m.Warmup.Requests += w.Requests
			}
		}
		warmed = false
		if beforeTimed != nil {
			beforeTimed()
		}
		r := cl.Run(ctx, label, pool, RunOptions{Requests: s.Requests, Duration: s.Duration})
		m.Pool = &PoolInfo{
			Mode:            "pre-generated before the timed run",
			Messages:        pool.Len(),
			Used:            pool.Used(),
			GenerateSeconds: pool.Took.Seconds(),
			AvgPlainBytes:   float64(pool.PlainBytes) / float64(max(pool.Len(), 1)),
			AvgBodyBytes:    float64(pool.BodyBytes) / float64(max(pool.Len(), 1)),
		}
		if r.StoppedBy != "pool exhausted" || size >= s.MaxPool || attempt == 2 {
			m.Result = r
			return m
		}
		m.RanDry = append(m.RanDry, r)
		rate = max(rate, r.RPS)
	}
}
