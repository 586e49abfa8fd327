package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet/server"
)

// applyWebhookSettings reads serve's WXFLEET_WEBHOOK_* settings (declared
// in settingTable; docs/webhooks.md) into cfg; unset ones keep the defaults.
func applyWebhookSettings(e *env, cfg *server.Config) error {
	dur := func(name string, min, max time.Duration, into *time.Duration) error {
		v, err := e.get(name)
		if err != nil || v == "" {
			return err
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < min || d > max {
			return fmt.Errorf("WXFLEET_%s %q: a duration from %v to %v, such as 10s", name, v, min, max)
		}
		*into = d
		return nil
	}
	if err := dur("WEBHOOK_TIMEOUT", time.Second, 2*time.Minute, &cfg.WebhookTimeout); err != nil {
		return err
	}
	if err := dur("WEBHOOK_RETRY_BASE", time.Second, time.Hour, &cfg.WebhookRetryBase); err != nil {
		return err
	}
	if v, err := e.get("WEBHOOK_MAX_ATTEMPTS"); err != nil {
		return err
	} else if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			return fmt.Errorf("WXFLEET_WEBHOOK_MAX_ATTEMPTS %q: a whole number from 1 to 50", v)
		}
		cfg.WebhookMaxAttempts = n
	}
	switch v, err := e.get("WEBHOOK_PRIVATE_ADDRESSES"); {
	case err != nil:
		return err
	case v == "" || v == "allow":
	case v == "refuse":
		cfg.WebhookRefusePrivate = true
	default:
		return fmt.Errorf("WXFLEET_WEBHOOK_PRIVATE_ADDRESSES %q: allow (the default) or refuse", v)
	}
	return nil
}
