package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// rolloutFlags are serve's rollout settings.
type rolloutFlags struct {
	fs                                 *flag.FlagSet
	rate, apiRates, workers, auditPoll *string
}

func addRolloutFlags(fs *flag.FlagSet) *rolloutFlags {
	return &rolloutFlags{
		fs:        fs,
		rate:      fs.String("rollout-rate", "20", "calls per second rollouts make to WeChat, for the whole cluster; 0 = no bound (WXFLEET_ROLLOUT_RATE)"),
		apiRates:  fs.String("rollout-api-rates", "", "per-API bounds, e.g. /wxa/commit=5,/wxa/submit_audit=2 (WXFLEET_ROLLOUT_API_RATES)"),
		workers:   fs.String("rollout-workers", "", "rollout steps run at once on this instance; default 10, or half --rollout-rate when that is more (WXFLEET_ROLLOUT_WORKERS)"),
		auditPoll: fs.String("audit-poll", "10m", "how often an audit no push has decided is polled (WXFLEET_AUDIT_POLL)"),
	}
}

// rolloutSettings are the resolved rollout flags.
type rolloutSettings struct {
	rate      float64
	apiRates  map[string]float64
	workers   int
	auditPoll time.Duration
}

func (rf *rolloutFlags) resolve(e *env) (rolloutSettings, error) {
	var out rolloutSettings
	get := func(flagName, envName string) (string, error) { return flagOrEnv(rf.fs, e, flagName, envName) }
	v, err := get("rollout-rate", "ROLLOUT_RATE")
	if err != nil {
		return out, err
	}
	if out.rate, err = strconv.ParseFloat(v, 64); err != nil || out.rate < 0 {
		return out, fmt.Errorf("--rollout-rate %q: a number of calls per second, 0 or more", v)
	}
	if v, err = get("rollout-api-rates", "ROLLOUT_API_RATES"); err != nil {
		return out, err
	}
	if out.apiRates, err = parseAPIRates(v); err != nil {
		return out, err
	}
	if v, err = get("rollout-workers", "ROLLOUT_WORKERS"); err != nil {
		return out, err
	}
	if v != "" { // "": the default, from the rate (rollout.DefaultWorkers)
		if out.workers, err = strconv.Atoi(v); err != nil || out.workers < 1 || out.workers > 1000 {
			return out, fmt.Errorf("--rollout-workers %q: a whole number from 1 to 1000", v)
		}
	}
	if v, err = get("audit-poll", "AUDIT_POLL"); err != nil {
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
