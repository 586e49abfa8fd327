package main

import (
	"cmp"
	"fmt"
	"time"

	"github.com/wxfleet/wxfleet/pay"
	"github.com/wxfleet/wxfleet/server"
)

// tenantSettings reads the subscription expiry policy's settings:
// WXFLEET_TENANT_GRACE (how long after expiry a tenant stays active,
// default 7d) and WXFLEET_TENANT_CHECK_INTERVAL (how often the policy runs,
// default 24h).
func tenantSettings(e *env, cfg *server.Config) error {
	if v, err := e.get("TENANT_GRACE"); err != nil {
		return err
	} else if v != "" {
		d, err := parseRetention(v)
		if err != nil || d < 0 {
			return fmt.Errorf("WXFLEET_TENANT_GRACE %q: use days (7d) or a duration of at least 1h (168h)", v)
		}
		cfg.TenantGrace = d
	}
	if v, err := e.get("TENANT_CHECK_INTERVAL"); err != nil {
		return err
	} else if v != "" {
		d, err := parseRetention(v)
		if err != nil || d < 0 {
			return fmt.Errorf("WXFLEET_TENANT_CHECK_INTERVAL %q: use a duration of at least 1h (24h) or days (1d)", v)
		}
		cfg.TenantCheckInterval = d
	}
	return nil
}

// payReconcileSettings reads WXFLEET_PAY_RECONCILE_AFTER: how long an order
// stays unpaid before WeChat Pay is asked about it, and
// WXFLEET_PAY_CLOSE_AFTER: how long before it is closed, which must come
// later, or an order would be closed before the reconciliation had a chance
// to find its lost payment (docs/wechat-pay.md).
func payReconcileSettings(e *env, cfg *server.Config) error {
	v, err := e.get("PAY_RECONCILE_AFTER")
	if err != nil {
		return err
	}
	if v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 2*time.Hour {
			return fmt.Errorf("WXFLEET_PAY_RECONCILE_AFTER %q: use a duration from 1m to 2h (5m)", v)
		}
		cfg.PayReconcileAfter = d
	}
	if v, err = e.get("PAY_CLOSE_AFTER"); err != nil {
		return err
	}
	if v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 24*time.Hour {
			return fmt.Errorf("WXFLEET_PAY_CLOSE_AFTER %q: use a duration up to 24h (2h)", v)
		}
		cfg.PayCloseAfter = d
	}
	reconcile, closing := cmp.Or(cfg.PayReconcileAfter, pay.DefaultReconcileAfter), cmp.Or(cfg.PayCloseAfter, pay.DefaultCloseAfter)
	if closing <= reconcile {
		return fmt.Errorf("WXFLEET_PAY_CLOSE_AFTER (%s) must be more than WXFLEET_PAY_RECONCILE_AFTER (%s)", closing, reconcile)
	}
	return nil
}
