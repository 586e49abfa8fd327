package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/server"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// settings are serve's (and migrate's) platform settings, resolved from the
// flags and the environment.
type settings struct {
	addr, data, database, wechatURL, publicURL, platforms string
}

func platformSettings(c *cmdSettings) (settings, error) {
	var s settings
	var err error
	for _, x := range []struct {
		dst  *string
		name string
	}{
		{&s.addr, "addr"}, {&s.data, "data"}, {&s.database, "database"},
		{&s.wechatURL, "wechat-url"}, {&s.publicURL, "public-url"}, {&s.platforms, "platforms"},
	} {
		if *x.dst, err = c.get(x.name); err != nil {
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

// masterKey reads WXFLEET_MASTER_KEY (or _FILE). Without it, a SQLite
// installation uses the key file in the data directory, creating it (mode
// 0600) on first start; PostgreSQL is refused: several instances share one
// database, so the key must come from the operator, the same on each, and a
// key made on one machine would break the others' secrets.
func masterKey(e *env, data, database string, logger *slog.Logger) ([]byte, error) {
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
	if isPostgres(database) {
		return nil, errors.New("PostgreSQL 需要主密钥：请设置 WXFLEET_MASTER_KEY（或 WXFLEET_MASTER_KEY_FILE），所有实例用同一个值；" +
			"生成一个：wxfleet keygen（或 openssl rand -base64 32），并与数据库分开备份 / " +
			"PostgreSQL needs a master key: set WXFLEET_MASTER_KEY (or WXFLEET_MASTER_KEY_FILE), the same on every instance; " +
			"make one with `wxfleet keygen` (or `openssl rand -base64 32`) and back it up apart from the database")
	}
	path := filepath.Join(data, "master.key")
	_, statErr := os.Stat(path)
	key, err := vault.LoadKey(path, true)
	if err != nil {
		return nil, err
	}
	msg := "secrets are sealed with the master key in this file: back it up together with the database; losing it loses every refresh token (主密钥须与数据库一起备份，丢失则所有 refresh token 无法解密)"
	if statErr != nil {
		logger.Warn("created a new master key: "+msg, "path", path)
	} else {
		logger.Info(msg, "path", path)
	}
	return key, nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// runKeygen prints a new random master key, for WXFLEET_MASTER_KEY.
func runKeygen(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("keygen: unexpected argument %q", args[0])
	}
	_, err := fmt.Fprintln(stdout, vault.EncodeKey(vault.GenerateKey()))
	return err
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
	c := newCmdSettings("serve", "serve", e, stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", c.fs.Arg(0))
	}
	s, err := platformSettings(c)
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
	if err := checkAdminToken(admin); err != nil {
		return err
	}
	at, err := authType(e)
	if err != nil {
		return err
	}
	rate, err := refreshRate(c)
	if err != nil {
		return err
	}
	key, err := masterKey(e, s.data, s.database, logger)
	if err != nil {
		return err
	}
	oldKey, err := oldMasterKey(e)
	if err != nil {
		return err
	}
	scale, err := jobTimeoutScale(e)
	if err != nil {
		return err
	}
	rs, err := rolloutResolve(c)
	if err != nil {
		return err
	}
	cfg := server.Config{
		Addr: s.addr, PublicURL: s.publicURL, Database: s.database, WeChatURL: s.wechatURL,
		AdminToken: wxfleet.Secret(admin), MasterKey: key, MasterKeyOld: oldKey, Platforms: platforms, AuthType: at, Logger: logger,
		JobTimeoutScale: scale, RefreshRate: rate,
		RolloutRate: rs.rate, RolloutAPIRates: rs.apiRates, RolloutWorkers: rs.workers, AuditPollInterval: rs.auditPoll,
	}
	dv, err := c.get("shutdown-drain")
	if err != nil {
		return err
	}
	if cfg.ShutdownDrain, err = time.ParseDuration(dv); err != nil || cfg.ShutdownDrain < 0 || cfg.ShutdownDrain > time.Minute {
		return fmt.Errorf("--shutdown-drain %q: a duration from 0s to 1m, such as 5s", dv)
	}
	if err := hardeningApply(c, &cfg); err != nil {
		return err
	}
	if err := applyWebhookSettings(e, &cfg); err != nil {
		return err
	}
	if err := payReconcileSettings(e, &cfg); err != nil {
		return err
	}
	if err := tenantSettings(e, &cfg); err != nil {
		return err
	}
	if err := testDurations(e, &cfg); err != nil {
		return err
	}
	if cfg.Pay, err = paySettings(e); err != nil {
		return err
	}
	srv, err := server.New(ctx, cfg)
	if newer := (*store.NewerSchemaError)(nil); errors.As(err, &newer) {
		return fmt.Errorf("wxfleet %s: %w", buildInfo(), err)
	}
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	logger.Info("wxfleet serving", "url", srv.URL(), "platforms", len(platforms), "database", describeDSN(s.database), "wechat", wechatTarget(s.wechatURL), "version", buildInfo().String())
	<-ctx.Done()
	logger.Info("shutting down")
	return nil
}

// jobTimeoutScale reads WXFLEET_TEST_JOB_TIMEOUT_SCALE, a knob for the tests
// that kill `wxfleet serve` and wait for River to take its jobs back (see
// server.Config.JobTimeoutScale). It is not a setting for operators: unset,
// the real timeouts apply.
func jobTimeoutScale(e *env) (float64, error) {
	v, err := e.get("TEST_JOB_TIMEOUT_SCALE")
	if err != nil || v == "" {
		return 0, err
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1 {
		return 0, fmt.Errorf("WXFLEET_TEST_JOB_TIMEOUT_SCALE %q: a number in (0, 1]", v)
	}
	return f, nil
}

// refreshRate reads --refresh-rate / WXFLEET_REFRESH_RATE; 0 means the default.
func refreshRate(c *cmdSettings) (float64, error) {
	v, err := c.get("refresh-rate")
	if err != nil || v == "" {
		return 0, err
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r <= 0 || r > 10_000 {
		return 0, fmt.Errorf("--refresh-rate %q: give api_authorizer_token calls per second, above 0 and at most 10000", v)
	}
	return r, nil
}

// testDurations reads the WXFLEET_TEST_* durations the tests that run
// `wxfleet serve` as a process use to make a rollout take seconds (the
// demo's values, see demoOptions). Not settings for operators: unset, the
// production values apply.
func testDurations(e *env, cfg *server.Config) error {
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"TEST_JOB_POLL_INTERVAL", &cfg.JobPollInterval},
		{"TEST_AUDIT_POLL_INTERVAL", &cfg.AuditPollInterval},
		{"TEST_ROLLOUT_RETRY_BASE", &cfg.RolloutRetryBase},
		{"TEST_ROLLOUT_QUOTA_WAIT", &cfg.RolloutQuotaWait},
		{"TEST_ROLLOUT_SETTLE_TIME", &cfg.RolloutSettleTime},
		{"TEST_WECHAT_TIMEOUT", &cfg.WeChatTimeout},
	} {
		v, err := e.get(d.name)
		if err != nil {
			return err
		}
		if v == "" {
			continue
		}
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 {
			return fmt.Errorf("WXFLEET_%s %q: a positive duration such as 500ms", d.name, v)
		}
		*d.dst = t
	}
	return nil
}

func wechatTarget(u string) string {
	if u == "" {
		return "WeChat (api.weixin.qq.com)"
	}
	return u
}

func runMigrate(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	c := newCmdSettings("migrate", "migrate", e, stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected argument %q", c.fs.Arg(0))
	}
	s, err := platformSettings(c)
	if err != nil {
		return err
	}
	status := c.bool("status")
	to := int64(-1)
	if v, _ := c.get("to"); v != "" {
		if to, err = strconv.ParseInt(v, 10, 64); err != nil || to < 0 {
			return fmt.Errorf("migrate --to %q: a schema version, 0 or more", v)
		}
	}
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	// Migrations seal and open nothing, so migrate reads no master key and
	// never makes one: the store gets a throwaway key it will not use.
	v, err := vault.New(vault.GenerateKey())
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
	if status || to >= 0 {
		return migrateCommand(ctx, st, status, to, describeDSN(s.database), stdout)
	}
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

// paySettings reads WeChat Pay's settings (docs/wechat-pay.md): none set →
// nil (what the database holds stays); WXFLEET_PAY_MCHID set → every other
// one but the URLs is required. Secrets (the private key, the APIv3 key)
// also come from *_FILE; the keys are PEM.
func paySettings(e *env) (*wxfleet.PayMerchant, error) {
	names := []string{"PAY_MCHID", "PAY_APPID", "PAY_CERT_SERIAL", "PAY_PRIVATE_KEY", "PAY_APIV3_KEY", "PAY_PUBLIC_KEY_ID", "PAY_PUBLIC_KEY", "PAY_URL", "PAY_NOTIFY_URL"}
	v := map[string]string{}
	for _, n := range names {
		s, err := e.get(n)
		if err != nil {
			return nil, err
		}
		v[n] = s
	}
	if v["PAY_MCHID"] == "" {
		for _, n := range names {
			if v[n] != "" {
				return nil, fmt.Errorf("WXFLEET_%s is set but WXFLEET_PAY_MCHID is not: set the provider merchant id too", n)
			}
		}
		return nil, nil
	}
	for _, n := range names[:7] {
		if v[n] == "" {
			return nil, fmt.Errorf("missing setting WXFLEET_%s (or WXFLEET_%s_FILE): WeChat Pay needs it with WXFLEET_PAY_MCHID", n, n)
		}
	}
	return &wxfleet.PayMerchant{SpMchID: v["PAY_MCHID"], SpAppID: v["PAY_APPID"], CertSerial: v["PAY_CERT_SERIAL"],
		PrivateKey: wxfleet.Secret(v["PAY_PRIVATE_KEY"]), APIv3Key: wxfleet.Secret(v["PAY_APIV3_KEY"]),
		PublicKeyID: v["PAY_PUBLIC_KEY_ID"], PublicKey: v["PAY_PUBLIC_KEY"], BaseURL: v["PAY_URL"], NotifyURL: v["PAY_NOTIFY_URL"]}, nil
}
