package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// runHealthcheck asks a running platform whether it is ready (GET /readyz)
// and fails unless it answers 200. It is the container image's HEALTHCHECK:
// the image has no shell and no curl, only this binary. The default URL is
// the local listen address (WXFLEET_ADDR), so inside the container it needs
// no flag.
func runHealthcheck(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	c := newCmdSettings("healthcheck", "healthcheck", e, stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", c.fs.Arg(0))
	}
	u, err := c.get("url")
	if err != nil {
		return err
	}
	if u == "" {
		addr, err := c.get("addr")
		if err != nil {
			return err
		}
		u = "http://" + probeAddr(addr) + "/readyz"
	}
	tv, _ := c.get("timeout")
	timeout, err := time.ParseDuration(tv)
	if err != nil || timeout <= 0 {
		return fmt.Errorf("healthcheck --timeout %q: a positive duration such as 5s", tv)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: 无法连接 / cannot reach %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: 未就绪 / not ready: %s answered %d %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "ready: %s\n", u)
	return nil
}

// probeAddr turns a listen address into one to connect to: a wildcard or
// empty host means this machine.
func probeAddr(listen string) string {
	if listen == "" {
		return "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
