package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TokenStates are one platform's authorized authorizers by the state of
// their access token (fresh, due, expired) and how many of them are failing
// to refresh.
type TokenStates struct {
	ComponentAppID string
	Fresh          int
	Due            int
	Expired        int
	Failing        int
}

// WatchTokenHealth exports wxfleet_authorizer_tokens{component_appid,state},
// read at scrape time with read (a COUNT over an index: cheap at 100k), so
// every instance reports what the shared store holds.
func (m *Metrics) WatchTokenHealth(read func(ctx context.Context) ([]TokenStates, error)) {
	m.Registry.MustRegister(&tokenCollector{read: read, desc: prometheus.NewDesc("wxfleet_authorizer_tokens",
		"Authorized authorizers by the state of their access token (fresh, due for refresh, expired) and how many fail to refresh (failing, any token state), by platform.",
		[]string{"component_appid", "state"}, nil)})
}

type tokenCollector struct {
	read func(ctx context.Context) ([]TokenStates, error)
	desc *prometheus.Desc
}

func (c *tokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *tokenCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	states, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range states {
		for _, v := range []struct {
			state string
			n     int
		}{{"fresh", s.Fresh}, {"due", s.Due}, {"expired", s.Expired}, {"failing", s.Failing}} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v.n), s.ComponentAppID, v.state)
		}
	}
}
