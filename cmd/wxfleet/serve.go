package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/server"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/vault"
)

// platformFlags are shared by serve, demo and migrate.
type platformFlags struct {
	fs                                         *flag.FlagSet
	addr, data, database, wechatURL, publicURL *string
	platforms                                  *string
}

func newPlatformFlags(name, defAddr string, stderr io.Writer) *platformFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &platformFlags{
		fs:        fs,
		addr:      fs.String("addr", defAddr, "listen address (WXFLEET_ADDR)"),
		data:      fs.String("data", "wxfleet-data", "data directory: SQLite database, master key (WXFLEET_DATA)"),
		database:  fs.String("database", "", "postgres://... for PostgreSQL; default SQLite at DATA/wxfleet.db (WXFLEET_DATABASE)"),
		wechatURL: fs.String("wechat-url", "", "send every WeChat host's calls and pages here, e.g. a sandbox; empty = WeChat itself (WXFLEET_WECHAT_URL)"),
		publicURL: fs.String("public-url", "", "URL browsers and WeChat use to reach this server; default http://ADDR (WXFLEET_PUBLIC_URL)"),
		platforms: fs.String("platforms", "", "JSON file listing several third-party platforms (WXFLEET_PLATFORMS)"),
	}
}

// resolved settings after flags and environment.
type settings struct {
	addr, data, database, wechatURL, publicURL, platforms string
}

func (pf *platformFlags) resolve(e *env) (settings, error) {
	var s settings
	var err error
	for _, x := range []struct {
		dst       *string
		flag, env string
	}{
		{&s.addr, "addr", "ADDR"}, {&s.data, "data", "DATA"}, {&s.database, "database", "DATABASE"},
		{&s.wechatURL, "wechat-url", "WECHAT_URL"}, {&s.publicURL, "public-url", "PUBLIC_URL"}, {&s.platforms, "platforms", "PLATFORMS"},
	} {
		if *x.dst, err = flagOrEnv(pf.fs, e, x.flag, x.env); err != nil {
			return s, err
		}
	}
	if s.database == "" {
		s.database = filepath.Join(s.data, "wxfleet.db")
	}
	for _, u := range []struct{ name, v string }{{"--wechat-url", s.wechatURL}, {"--public-url", s.publicURL}} {
		if u.v != "" && !strings.HasPrefix(u.v, "http://") && !strings.HasPrefix(u.v, "https://") {
			return s, fmt.Errorf("%s %q must start with http:// or https://", u.name, u.v)
		}
	}
	return s, nil
}

// masterKey reads WXFLEET_MASTER_KEY(_FILE) or the key file in the data
// directory, creating it (mode 0600) on first start.
func masterKey(e *env, data string) ([]byte, error) {
	v, err := e.get("MASTER_KEY")
	if err != nil {
		return nil, err
	}
	if v != "" {
		k, err := vault.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("WXFLEET_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	return vault.LoadKey(filepath.Join(data, "master.key"), true)
}

func platformsFrom(e *env, s settings, demo *wxfleet.Platform) ([]wxfleet.Platform, error) {
	var out []wxfleet.Platform
	if s.platforms != "" {
		ps, err := loadPlatforms(s.platforms)
		if err != nil {
			return nil, err
		}
		out = ps
	}
	p, set, err := componentFromEnv(e, demo)
	if err != nil {
		return nil, err
	}
	if set {
		out = append([]wxfleet.Platform{p}, out...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no third-party platform configured: set WXFLEET_COMPONENT_APPID, WXFLEET_COMPONENT_SECRET, WXFLEET_COMPONENT_TOKEN and WXFLEET_COMPONENT_AES_KEY, or --platforms FILE")
	}
	return out, nil
}

func authType(e *env) (int, error) {
	v, err := e.get("AUTH_TYPE")
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 3 {
		return 0, fmt.Errorf("WXFLEET_AUTH_TYPE %q: use 1 (official accounts), 2 (mini programs) or 3 (both)", v)
	}
	return n, nil
}

func runServe(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	pf := newPlatformFlags("serve", "127.0.0.1:8080", stderr)
	pf.fs.String("refresh-rate", "", fmt.Sprintf("api_authorizer_token calls per second per platform, for the whole cluster (default %v) (WXFLEET_REFRESH_RATE)", token.DefaultRate))
	if err := pf.fs.Parse(args); err != nil {
		return err
	}
	if pf.fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", pf.fs.Arg(0))
	}
	s, err := pf.resolve(e)
	if err != nil {
		return err
	}
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	platforms, err := platformsFrom(e, s, nil)
	if err != nil {
		return err
	}
	admin, err := e.get("ADMIN_TOKEN")
	if err != nil {
		return err
	}
	if admin == "" {
		return fmt.Errorf("missing setting WXFLEET_ADMIN_TOKEN (or WXFLEET_ADMIN_TOKEN_FILE): the bearer token for the API and console")
	}
	at, err := authType(e)
	if err != nil {
		return err
	}
	rate, err := refreshRate(pf, e)
	if err != nil {
		return err
	}
	key, err := masterKey(e, s.data)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Config{
		Addr: s.addr, PublicURL: s.publicURL, Database: s.database, WeChatURL: s.wechatURL,
		AdminToken: wxfleet.Secret(admin), MasterKey: key, Platforms: platforms, AuthType: at, Logger: logger,
		RefreshRate: rate,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	logger.Info("wxfleet serving", "url", srv.URL(), "platforms", len(platforms), "database", describeDSN(s.database), "wechat", wechatTarget(s.wechatURL))
	<-ctx.Done()
	logger.Info("shutting down")
	return nil
}

// refreshRate reads --refresh-rate / WXFLEET_REFRESH_RATE; 0 means the default.
func refreshRate(pf *platformFlags, e *env) (float64, error) {
	v, err := flagOrEnv(pf.fs, e, "refresh-rate", "REFRESH_RATE")
	if err != nil || v == "" {
		return 0, err
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r <= 0 || r > 10_000 {
		return 0, fmt.Errorf("--refresh-rate %q: give api_authorizer_token calls per second, above 0 and at most 10000", v)
	}
	return r, nil
}

func wechatTarget(u string) string {
	if u == "" {
		return "WeChat (api.weixin.qq.com)"
	}
	return u
}

func runMigrate(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	pf := newPlatformFlags("migrate", "", stderr)
	if err := pf.fs.Parse(args); err != nil {
		return err
	}
	s, err := pf.resolve(e)
	if err != nil {
		return err
	}
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	key, err := masterKey(e, s.data)
	if err != nil {
		return err
	}
	v, err := vault.New(key)
	if err != nil {
		return err
	}
	if !strings.Contains(s.database, "://") {
		if err := os.MkdirAll(filepath.Dir(s.database), 0o700); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, s.database, v, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied:", describeDSN(s.database))
	return nil
}

func randomToken() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
