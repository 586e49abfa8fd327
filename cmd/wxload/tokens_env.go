package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver: moving the stored expiries
)

// The processes of `wxload tokens`: one sandbox and one or more `wxfleet
// serve`, on loopback ports, with the benchmark's own platform credentials.

// benchPlatform is the third-party platform the benchmark registers on both
// sides. Not secret: loopback only.
var benchPlatform = map[string]string{
	"WXFLEET_COMPONENT_APPID":   "wxb0e1c2d3a4f5e6b7",
	"WXFLEET_COMPONENT_SECRET":  "wxload-tokens-component-secret",
	"WXFLEET_COMPONENT_TOKEN":   "wxloadtokens",
	"WXFLEET_COMPONENT_AES_KEY": "wxloadTokensEncodingAESKey0123456789abcdefg",
	"WXFLEET_COMPONENT_NAME":    "wxload tokens",
}

// proc is a child process with its log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	url  string
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startProc(name, dir, bin string, env map[string]string, args ...string) (*proc, error) {
	lf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	// Only what the command needs, so a WXFLEET_* of the caller cannot leak in.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	return &proc{name: name, cmd: cmd, log: lf}, nil
}

// stop asks the process to end (SIGTERM) and kills it after 15 s.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.log.Close()
}

// peakRSS is the process's peak resident set (VmHWM), in MiB; 0 if unknown.
func (p *proc) peakRSS() float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, u string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not become ready within %v (last: %v)", u, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jsonClient talks JSON to the platform's API or the sandbox's control API.
type jsonClient struct {
	http  *http.Client
	token string // admin bearer token, for the platform
}

func (c *jsonClient) do(ctx context.Context, method, u string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && res.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %w", method, u, err)
		}
	}
	if res.StatusCode/100 != 2 && out != nil {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, u, res.StatusCode, truncateBytes(data, 300))
	}
	return res.StatusCode, nil
}

func truncateBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// apiCalls sums an instance's api_authorizer_token calls by errcode, from
// its /metrics (wxfleet_wechat_calls_total counts every attempt).
func apiCalls(ctx context.Context, c *http.Client, base string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "wxfleet_wechat_calls_total{") || !strings.Contains(line, `path="/cgi-bin/component/api_authorizer_token"`) {
			continue
		}
		_, code, _ := strings.Cut(line, `errcode="`)
		code, _, _ = strings.Cut(code, `"`)
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[code] += v
	}
	return out, sc.Err()
}

func sum(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

// database is the platform's database as the benchmark reaches it: to move
// the stored expiries and to measure its size.
type database struct {
	dsn    string // what `wxfleet serve --database` gets
	sqlite string // SQLite: the file
	schema string // PostgreSQL: the benchmark's own schema
	db     *sql.DB
}

// openDatabase prepares a fresh database: a SQLite file in dir, or a new
// schema in the PostgreSQL database at pg (loopback only).
func openDatabase(ctx context.Context, pg, dir string) (*database, error) {
	if pg == "" {
		path := filepath.Join(dir, "wxfleet.db")
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return nil, err
		}
		return &database{dsn: path, sqlite: path, db: db}, nil
	}
	u, err := url.Parse(pg)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("--database must be a postgres:// URL")
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return nil, fmt.Errorf("--database host %q: loopback only", h)
	}
	var b [4]byte
	rand.Read(b[:])
	schema := fmt.Sprintf("wxload_tokens_%x", b)
	admin, err := sql.Open("pgx", pg)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, fmt.Errorf("creating schema %s: %w", schema, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, err
	}
	return &database{dsn: u.String(), schema: schema, db: db}, nil
}

// comeDue sets every stored authorizer and component token to expire at at
// (only ever earlier than stored: the sandbox still accepts each token until
// its own expiry, which the benchmark moved to at or later).
func (d *database) comeDue(ctx context.Context, at time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE authorizers SET token_expires_at = $1 WHERE status = 'authorized' AND token_expires_at > $1`, at.UnixMilli())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	_, err = d.db.ExecContext(ctx, `UPDATE component_tokens SET expires_at = $1 WHERE expires_at > $1`, at.UnixMilli())
	return n, err
}

// size is the database's size in bytes: SQLite's files (with WAL), or the
// PostgreSQL schema's tables with their indexes and TOAST.
func (d *database) size(ctx context.Context) (int64, error) {
	if d.sqlite != "" {
		var n int64
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(d.sqlite + suffix); err == nil {
				n += fi.Size()
			}
		}
		return n, nil
	}
	var n sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
		JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind IN ('r', 'm')`, d.schema).Scan(&n)
	return n.Int64, err
}

func (d *database) close(ctx context.Context, keep bool) {
	if d.schema != "" && !keep {
		d.db.ExecContext(ctx, "DROP SCHEMA "+d.schema+" CASCADE")
	}
	d.db.Close()
}

func randomKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}
