package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// rolloutSettings are the resolved rollout flags.
type rolloutSettings struct {
	rate      float64
	apiRates  map[string]float64
	workers   int
	auditPoll time.Duration
}

// rolloutResolve reads serve's rollout settings.
func rolloutResolve(c *cmdSettings) (rolloutSettings, error) {
	var out rolloutSettings
	v, err := c.get("rollout-rate")
	if err != nil {
		return out, err
	}
	if out.rate, err = strconv.ParseFloat(v, 64); err != nil || out.rate < 0 {
		return out, fmt.Errorf("--rollout-rate %q: a number of calls per second, 0 or more", v)
	}
	if v, err = c.get("rollout-api-rates"); err != nil {
		return out, err
	}
	if out.apiRates, err = parseAPIRates(v); err != nil {
		return out, err
	}
	if v, err = c.get("rollout-workers"); err != nil {
		return out, err
	}
	if out.workers, err = strconv.Atoi(v); err != nil || out.workers < 1 || out.workers > 1000 {
		return out, fmt.Errorf("--rollout-workers %q: a whole number from 1 to 1000", v)
	}
	if v, err = c.get("audit-poll"); err != nil {
		return out, err
	}
	if out.auditPoll, err = time.ParseDuration(v); err != nil || out.auditPoll < time.Second {
		return out, fmt.Errorf("--audit-poll %q: a duration of at least 1s, such as 10m", v)
	}
	return out, nil
}

// parseAPIRates reads "path=rate,path=rate".
func parseAPIRates(v string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		path, r, ok := strings.Cut(part, "=")
		rate, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if !ok || !strings.HasPrefix(path, "/") || err != nil || rate <= 0 {
			return nil, fmt.Errorf("--rollout-api-rates: %q is not PATH=RATE, e.g. /wxa/commit=5", part)
		}
		out[strings.TrimSpace(path)] = rate
	}
	return out, nil
}
