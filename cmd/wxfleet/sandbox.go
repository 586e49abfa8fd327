package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet/sandbox"
)

func runSandbox(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address (WXFLEET_SANDBOX_ADDR)")
	data := fs.String("data", "wxfleet-sandbox-data", "state directory; the sandbox's state survives restarts")
	platformURL := fs.String("platform-url", "http://127.0.0.1:8080", "the platform that receives pushes (WXFLEET_PLATFORM_URL)")
	publicURL := fs.String("public-url", "", "URL browsers use to reach the sandbox; default http://ADDR")
	interval := fs.Duration("ticket-interval", 10*time.Minute, "component_verify_ticket push period (WXFLEET_TICKET_INTERVAL)")
	authDomain := fs.String("auth-domain", "", "授权发起页域名: the host the authorization redirect_uri and entry page must be on; default the host of --platform-url, \"*\" for any (WXFLEET_AUTH_DOMAIN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sandbox: unexpected argument %q", fs.Arg(0))
	}
	a, err := flagOrEnv(fs, e, "addr", "SANDBOX_ADDR")
	if err != nil {
		return err
	}
	purl, err := flagOrEnv(fs, e, "platform-url", "PLATFORM_URL")
	if err != nil {
		return err
	}
	iv, err := flagOrEnv(fs, e, "ticket-interval", "TICKET_INTERVAL")
	if err != nil {
		return err
	}
	if *interval, err = time.ParseDuration(iv); err != nil || *interval <= 0 {
		return fmt.Errorf("--ticket-interval %q: a positive duration such as 10m", iv)
	}
	if *authDomain, err = flagOrEnv(fs, e, "auth-domain", "AUTH_DOMAIN"); err != nil {
		return err
	}
	if d := *authDomain; d != "" && d != "*" && (strings.ContainsAny(d, "/:?#@ ") || strings.Contains(d, "..")) {
		return fmt.Errorf("--auth-domain %q: a host name such as isv.example.com, without scheme, port or path", d)
	}
	*addr, *platformURL = a, purl
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	p, _, err := componentFromEnv(e, &demoPlatform)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	if *publicURL == "" {
		*publicURL = "http://" + ln.Addr().String()
	}
	sb, err := sandbox.New(sandbox.Config{
		DataDir: *data, PublicURL: *publicURL, PlatformURL: *platformURL,
		Components:     []sandbox.Component{{AppID: p.AppID, Secret: p.Secret.Reveal(), Token: p.Token.Reveal(), AESKey: p.AESKey.Reveal(), Name: p.Name, AuthDomain: *authDomain}},
		TicketInterval: *interval, Logger: logger,
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer sb.Close()
	hs := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	fmt.Fprintf(stdout, "wxfleet 沙箱 / WeChat sandbox: %s  →  推送到 pushes to %s (component %s)\n", *publicURL, *platformURL, p.AppID)
	if d := sb.AuthDomain(p.AppID); d != "" {
		fmt.Fprintf(stdout, "授权发起页域名 / authorization domain: %s (--auth-domain)\n", d)
	}
	if err := sb.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
