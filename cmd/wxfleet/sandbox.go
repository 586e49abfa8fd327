package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet/sandbox"
)

func runSandbox(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	c := newCmdSettings("sandbox", "sandbox", e, stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("sandbox: unexpected argument %q", c.fs.Arg(0))
	}
	var addr, data, platformURL, publicURL, iv, authDomain string
	for _, x := range []struct {
		dst  *string
		name string
	}{{&addr, "addr"}, {&data, "data"}, {&platformURL, "platform-url"}, {&publicURL, "public-url"}, {&iv, "ticket-interval"}, {&authDomain, "auth-domain"}} {
		var err error
		if *x.dst, err = c.get(x.name); err != nil {
			return err
		}
	}
	interval, err := time.ParseDuration(iv)
	if err != nil || interval <= 0 {
		return fmt.Errorf("--ticket-interval %q: a positive duration such as 10m", iv)
	}
	if d := authDomain; d != "" && d != "*" && (strings.ContainsAny(d, "/:?#@ ") || strings.Contains(d, "..")) {
		return fmt.Errorf("--auth-domain %q: a host name such as isv.example.com, without scheme, port or path", d)
	}
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	p, _, err := componentFromEnv(e, &demoPlatform)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}
	sb, err := sandbox.New(sandbox.Config{
		DataDir: data, PublicURL: publicURL, PlatformURL: platformURL,
		Components:     []sandbox.Component{{AppID: p.AppID, Secret: p.Secret.Reveal(), Token: p.Token.Reveal(), AESKey: p.AESKey.Reveal(), Name: p.Name, AuthDomain: authDomain}},
		TicketInterval: interval, Logger: logger,
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer sb.Close()
	hs := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	fmt.Fprintf(stdout, "wxfleet 沙箱 / WeChat sandbox: %s  →  推送到 pushes to %s (component %s)\n", publicURL, platformURL, p.AppID)
	if d := sb.AuthDomain(p.AppID); d != "" {
		fmt.Fprintf(stdout, "授权发起页域名 / authorization domain: %s (--auth-domain)\n", d)
	}
	if err := sb.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
