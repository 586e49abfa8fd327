package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/server"
	"github.com/wxfleet/wxfleet/web"
)

// minAdminToken is the shortest admin token serve accepts: the token opens
// the API, the console and every authorizer's access token.
const minAdminToken = 32

// checkAdminToken refuses a guessable admin token.
func checkAdminToken(tok string) error {
	if n := len(tok); n < minAdminToken {
		return fmt.Errorf("WXFLEET_ADMIN_TOKEN is %d characters; use at least %d (e.g. the output of `openssl rand -hex 24`)", n, minAdminToken)
	}
	return nil
}

// hardeningApply reads serve's settings for the public surface (issue 16)
// into cfg.
func hardeningApply(c *cmdSettings, cfg *server.Config) error {
	var err error
	if cfg.MetricsAddr, err = c.get("metrics-addr"); err != nil {
		return err
	}
	tok, err := c.get("METRICS_TOKEN")
	if err != nil {
		return err
	}
	cfg.MetricsToken = wxfleet.Secret(tok)
	if v, err := c.get("TRUSTED_PROXIES"); err != nil {
		return err
	} else if cfg.TrustedProxies, err = web.ParseTrustedProxies(v); err != nil {
		return fmt.Errorf("WXFLEET_TRUSTED_PROXIES: %w", err)
	}
	if v, err := c.get("MAX_CONNECTIONS"); err != nil {
		return err
	} else if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 16 {
			return fmt.Errorf("WXFLEET_MAX_CONNECTIONS %q: use a whole number of at least 16", v)
		}
		cfg.HTTP.MaxConnections = n
	}
	if v, err := c.get("API_BODY_LIMIT"); err != nil {
		return err
	} else if v != "" {
		n, err := parseBytes(v)
		if err != nil || n < 1<<10 {
			return fmt.Errorf("WXFLEET_API_BODY_LIMIT %q: use a size of at least 1KiB, e.g. 1MiB or 4MiB", v)
		}
		cfg.APIBodyCap = n
	}
	if v, err := c.get("EVENT_RETENTION"); err != nil {
		return err
	} else if v != "" {
		d, err := parseRetention(v)
		if err != nil {
			return fmt.Errorf("WXFLEET_EVENT_RETENTION %q: use days (30d), a duration (720h), or \"forever\"", v)
		}
		cfg.EventRetention = d
	}
	if v, err := c.get("RUNTIME_SESSION_TTL"); err != nil {
		return err
	} else if v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			return fmt.Errorf("WXFLEET_RUNTIME_SESSION_TTL %q: use a duration from 1m to 720h, e.g. 2h", v)
		}
		cfg.RuntimeSessionTTL = d
	}
	return nil
}

// parseBytes reads 1048576, 512KiB or 4MiB.
func parseBytes(v string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(v, "KiB"):
		mult, v = 1<<10, strings.TrimSuffix(v, "KiB")
	case strings.HasSuffix(v, "MiB"):
		mult, v = 1<<20, strings.TrimSuffix(v, "MiB")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}

// parseRetention reads "30d", a Go duration, or "forever" (negative: keep all).
func parseRetention(v string) (time.Duration, error) {
	if v == "forever" {
		return -1, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("bad days %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return d, nil
}
