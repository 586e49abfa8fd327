package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/password"
	"github.com/wxfleet/wxfleet/sandbox"
	"github.com/wxfleet/wxfleet/server"
	"github.com/wxfleet/wxfleet/store"
)

// demoPlatform is the third-party platform the demo and the standalone
// sandbox use when WXFLEET_COMPONENT_* are unset. Not secret: demo only.
var demoPlatform = wxfleet.Platform{
	AppID:  "wxd3e0f1ee7c0ffee1",
	Name:   "wxfleet 演示平台 Demo Platform",
	Secret: "demo-component-secret-not-for-production",
	Token:  "wxfleetdemotoken",
	AESKey: "wxfleetDemoEncodingAESKey0123456789abcdefgh",
}

// describeDSN names a database without its password.
func describeDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		u.User = nil
		return u.Redacted()
	}
	if strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	return "sqlite:" + dsn
}

// demo is a running platform plus sandbox, wired to each other.
type demo struct {
	Platform   *server.Server
	Sandbox    *sandbox.Sandbox
	SandboxURL string
	AdminToken string
	// Owner is the demo's owner account and its password (kept in
	// DATA/demo-owner.password, 0600, so it survives restarts).
	OwnerEmail, OwnerPassword string
	sandboxSrv                *http.Server
	cancel                    context.CancelFunc
	done                      chan struct{}
}

type demoOptions struct {
	Addr, SandboxAddr, Data string
	Database                string // "" → SQLite in Data
	Platform                wxfleet.Platform
	AdminToken              string
	MasterKey               []byte
	TicketInterval          time.Duration
	JobPollInterval         time.Duration
	// AuditPollInterval is how often rollouts poll an undecided audit; 0 → 3 s
	// (the sandbox decides audits in seconds).
	AuditPollInterval time.Duration
	// Rollout retry and quota waits, and WeChat's call timeout; 0 → the
	// demo's (short) values.
	RolloutRetryBase, RolloutQuotaWait, RolloutSettleTime, WeChatTimeout time.Duration
	// WebhookMaxAttempts bounds a delivery's attempts; 0 → the default.
	WebhookMaxAttempts int
	// PayReconcileAfter and PayReconcileInterval: when an unpaid order is
	// asked about at WeChat Pay, and how often; 0 → the defaults.
	PayReconcileAfter, PayReconcileInterval time.Duration
	Logger                                  *slog.Logger
}

// serverConfig is the platform's configuration in the demo, with WeChat at
// sandboxURL (a second instance in a test shares it).
func (o demoOptions) serverConfig(sandboxURL string) server.Config {
	return server.Config{
		Addr: o.Addr, Database: o.Database, WeChatURL: sandboxURL,
		AdminToken: wxfleet.Secret(o.AdminToken), MasterKey: o.MasterKey, Platforms: []wxfleet.Platform{o.Platform},
		JobPollInterval: o.JobPollInterval, AuditPollInterval: cmp.Or(o.AuditPollInterval, 3*time.Second),
		RolloutRetryBase: cmp.Or(o.RolloutRetryBase, time.Second), RolloutQuotaWait: cmp.Or(o.RolloutQuotaWait, 30*time.Second),
		RolloutSettleTime: cmp.Or(o.RolloutSettleTime, 30*time.Second),
		WeChatTimeout:     o.WeChatTimeout, Logger: o.Logger,
		PayReconcileAfter: o.PayReconcileAfter, PayReconcileInterval: o.PayReconcileInterval,
		// A failed webhook delivery is retried after a second, not a minute.
		WebhookRetryBase: time.Second, WebhookMaxAttempts: o.WebhookMaxAttempts,
	}
}

// startDemo boots the sandbox and the platform in this process. The platform
// binds first so the sandbox knows where to push; the sandbox serves before
// the platform starts so the platform's first calls find it.
func startDemo(ctx context.Context, o demoOptions) (*demo, error) {
	if err := os.MkdirAll(o.Data, 0o700); err != nil {
		return nil, err
	}
	sbLn, err := net.Listen("tcp", o.SandboxAddr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listening on %s: %w", o.SandboxAddr, err)
	}
	sandboxURL := "http://" + sbLn.Addr().String()
	if o.Database == "" {
		o.Database = filepath.Join(o.Data, "wxfleet.db")
	}
	srv, err := server.New(ctx, o.serverConfig(sandboxURL))
	if err != nil {
		sbLn.Close()
		return nil, err
	}
	if err := srv.Listen(); err != nil {
		sbLn.Close()
		srv.Close()
		return nil, err
	}
	sb, err := sandbox.New(sandbox.Config{
		DataDir:     filepath.Join(o.Data, "sandbox"),
		PublicURL:   sandboxURL,
		PlatformURL: srv.URL(),
		Components: []sandbox.Component{{
			AppID: o.Platform.AppID, Secret: o.Platform.Secret.Reveal(), Token: o.Platform.Token.Reveal(),
			AESKey: o.Platform.AESKey.Reveal(), Name: o.Platform.Name,
		}},
		TicketInterval: o.TicketInterval,
		Logger:         o.Logger.With("side", "sandbox"),
	})
	if err != nil {
		sbLn.Close()
		srv.Close()
		return nil, err
	}
	d := &demo{Platform: srv, Sandbox: sb, SandboxURL: sandboxURL, AdminToken: o.AdminToken, done: make(chan struct{})}
	if d.OwnerEmail, d.OwnerPassword, err = demoOwner(ctx, srv.Store, o.Data); err != nil {
		sbLn.Close()
		sb.Close()
		srv.Close()
		return nil, err
	}
	d.sandboxSrv = &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go d.sandboxSrv.Serve(sbLn)
	if err := srv.Start(ctx); err != nil {
		d.sandboxSrv.Close()
		sb.Close()
		srv.Close()
		return nil, err
	}
	// WeChat Pay: the platform takes the sandbox's provider merchant, as an
	// operator would copy theirs from the merchant platform (demo only: the
	// sandbox hands out the merchant's private key).
	if err := configureDemoPay(ctx, srv, sandboxURL); err != nil {
		d.sandboxSrv.Close()
		sb.Close()
		srv.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	go func() {
		defer close(d.done)
		if err := sb.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			o.Logger.Error("sandbox stopped", "err", err)
		}
	}()
	return d, nil
}

// Close stops both sides.
func (d *demo) Close() error {
	d.cancel()
	<-d.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.sandboxSrv.Shutdown(ctx)
	err := d.Platform.Close()
	if serr := d.Sandbox.Close(); err == nil {
		err = serr
	}
	return err
}

func runDemo(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	c := newCmdSettings("demo", "demo", e, stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", c.fs.Arg(0))
	}
	var addr, sbAddr, data, iv string
	for _, x := range []struct {
		dst  *string
		name string
	}{{&addr, "addr"}, {&sbAddr, "sandbox-addr"}, {&data, "data"}, {&iv, "ticket-interval"}} {
		var err error
		if *x.dst, err = c.get(x.name); err != nil {
			return err
		}
	}
	interval, err := time.ParseDuration(iv)
	if err != nil || interval <= 0 {
		return fmt.Errorf("--ticket-interval %q: a positive duration such as 10m", iv)
	}
	var seeds [2]int
	for i, name := range []string{"seed-tenants", "seed-authorizers"} {
		v, err := c.get(name)
		if err != nil {
			return err
		}
		if seeds[i], err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("--%s %q: a whole number", name, v)
		}
	}
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	p, _, err := componentFromEnv(e, &demoPlatform)
	if err != nil {
		return err
	}
	key, err := masterKey(e, data, filepath.Join(data, "wxfleet.db"), logger)
	if err != nil {
		return err
	}
	admin, err := demoAdminToken(e, data)
	if err != nil {
		return err
	}
	d, err := startDemo(ctx, demoOptions{
		Addr: addr, SandboxAddr: sbAddr, Data: data, Platform: p, AdminToken: admin, MasterKey: key,
		TicketInterval: interval, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	if err := seedDemo(ctx, d, p.AppID, seeds[0], seeds[1], stdout); err != nil {
		return err
	}
	u := d.Platform.URL()
	fmt.Fprintf(stdout, `
wxfleet 演示已启动 / demo running
  平台 Platform:      %s
  授权 Authorize:     %s/authorize
  控制台 Console:     %s/login
  所有者 Owner:        %s
  密码 Password:       %s
  沙箱 WeChat sandbox: %s
  模拟微信用户 User:   %s/sandbox/user   (发消息、订阅、领券、付款 / message, subscribe, cards, pay)
  模拟微信审核 Review: %s/sandbox/review (进件、卡券审核 / applications, card reviews)
  管理令牌 Admin token: %s   (API 与应急登录 / API and emergency sign-in)
  数据目录 Data:       %s
  微信支付 WeChat Pay: 已按沙箱的服务商配置 / configured from the sandbox's provider (docs/wechat-pay.md)

  curl -H "Authorization: Bearer %s" %s/api/v1/authorizers
按 Ctrl+C 停止 / press Ctrl+C to stop.
`, u, u, u, d.OwnerEmail, d.OwnerPassword, d.SandboxURL, d.SandboxURL, d.SandboxURL, admin, data, admin, u)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping…")
	return nil
}

// seedDemo fills the demo with tenants and placeholder authorizers at scale
// (store.Seed), when asked.
func seedDemo(ctx context.Context, d *demo, componentAppID string, tenants, authorizers int, stdout io.Writer) error {
	if tenants < 0 || authorizers < 0 || tenants > 1_000_000 || authorizers > 1_000_000 {
		return fmt.Errorf("demo: --seed-tenants and --seed-authorizers take 0 to 1000000")
	}
	if tenants == 0 && authorizers == 0 {
		return nil
	}
	res, err := d.Platform.Store.Seed(ctx, store.SeedOptions{ComponentAppID: componentAppID, Tenants: tenants, Authorizers: authorizers, Now: time.Now()})
	if err != nil {
		return fmt.Errorf("demo: seeding: %w", err)
	}
	fmt.Fprintf(stdout, "演示数据 seeded: %d plans, %d tenants, %d authorizers in %v\n", res.Plans, res.Tenants, res.Authorizers, res.Took.Round(time.Millisecond))
	// The expiry check ran at start, before the seeded terms existed: run it
	// now, so the reminders and suspensions they call for show at once.
	checked, err := d.Platform.Tenants.Check(ctx)
	if err != nil {
		return fmt.Errorf("demo: expiry check: %w", err)
	}
	fmt.Fprintf(stdout, "到期检查 expiry check: %d reminders, %d expired, %d suspended\n", checked.Reminded, checked.Expired, checked.Suspended)
	return nil
}

// demoAdminToken takes WXFLEET_ADMIN_TOKEN, else the token the demo generated
// on its first start (kept in DATA/admin.token, mode 0600, so bookmarks and
// scripts keep working across restarts).
func demoAdminToken(e *env, data string) (string, error) {
	v, err := e.get("ADMIN_TOKEN")
	if err != nil || v != "" {
		return v, err
	}
	path := filepath.Join(data, "admin.token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	tok := randomToken()
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

// demoOwnerEmail signs in to the demo's console.
const demoOwnerEmail = "owner@demo.wxfleet"

// demoOwner makes the demo's owner account on the first start, with a
// generated password kept in DATA/demo-owner.password (0600), and returns
// both. A later start reads the password back; if the file is gone the
// account stays as it is and the password is reported unknown.
func demoOwner(ctx context.Context, st *store.Store, data string) (string, string, error) {
	path := filepath.Join(data, "demo-owner.password")
	if _, err := st.AccountByEmail(ctx, demoOwnerEmail); err == nil {
		b, err := os.ReadFile(path)
		if err != nil {
			return demoOwnerEmail, "(unknown: wxfleet account reset-password --email " + demoOwnerEmail + ")", nil
		}
		return demoOwnerEmail, strings.TrimSpace(string(b)), nil
	} else if wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		return "", "", err
	}
	pw := generatePassword()
	hash, err := password.Hash(pw)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", "", err
	}
	now := time.Now()
	a := &wxfleet.Account{Email: demoOwnerEmail, Name: "演示所有者 Demo owner", Role: wxfleet.RoleOwner, PasswordHash: hash, CreatedAt: now}
	audit := &wxfleet.AuditEntry{At: now, ActorName: "demo", Via: "cli", Action: "account.create", Detail: `{"role":"owner"}`}
	if err := st.CreateAccount(ctx, a, audit); err != nil {
		return "", "", err
	}
	return demoOwnerEmail, pw, nil
}

// configureDemoPay configures the platform's WeChat Pay from GET
// /sandbox/api/pay/merchant, the pay host being the sandbox.
func configureDemoPay(ctx context.Context, srv *server.Server, sandboxURL string) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, sandboxURL+"/sandbox/api/pay/merchant", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("demo: reading the sandbox's pay merchant: %w", err)
	}
	defer resp.Body.Close()
	var m struct {
		SpMchID     string `json:"sp_mchid"`
		SpAppID     string `json:"sp_appid"`
		CertSerial  string `json:"cert_serial"`
		PrivateKey  string `json:"private_key"`
		APIv3Key    string `json:"apiv3_key"`
		PublicKeyID string `json:"wechatpay_public_key_id"`
		PublicKey   string `json:"wechatpay_public_key"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demo: the sandbox's pay merchant: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return fmt.Errorf("demo: the sandbox's pay merchant: %w", err)
	}
	return srv.ConfigurePay(ctx, wxfleet.PayMerchant{SpMchID: m.SpMchID, SpAppID: m.SpAppID, CertSerial: m.CertSerial,
		PrivateKey: wxfleet.Secret(m.PrivateKey), APIv3Key: wxfleet.Secret(m.APIv3Key), PublicKeyID: m.PublicKeyID,
		PublicKey: m.PublicKey, BaseURL: sandboxURL})
}
