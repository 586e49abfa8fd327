// Package metrics holds the Prometheus collectors of a wxfleet server, on a
// registry of its own (no global state), served at /metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wxfleet/wxfleet/wechat"
)

// Metrics are the server's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	// Pushes counts WeChat pushes by endpoint (component|app), type and result
	// (accepted|duplicate|rejected).
	Pushes *prometheus.CounterVec
	// IngestBatch observes how many pushes one database commit stored.
	IngestBatch prometheus.Histogram
	// TokenRefreshes counts token refreshes by kind (component|authorizer) and result.
	TokenRefreshes *prometheus.CounterVec
	// RolloutSteps counts rollout steps by step and result; step "move"
	// counts apps reaching a state (the result).
	RolloutSteps *prometheus.CounterVec
	// WeChatCalls counts calls to WeChat by API path and errcode (-2: no answer).
	WeChatCalls *prometheus.CounterVec
	// WeChatLatency observes WeChat call latency by API path.
	WeChatLatency *prometheus.HistogramVec
	// WeChatDefects counts WeChat's answers that say the platform sent
	// something wrong (wechat.IsPlatformDefect), by API path and errcode:
	// anything above zero is a bug to fix.
	WeChatDefects *prometheus.CounterVec
}

// New builds the collectors and registers them, with Go and process metrics,
// on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxfleet_pushes_total", Help: "WeChat pushes received, by endpoint, type and result.",
		}, []string{"endpoint", "type", "result"}),
		IngestBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "wxfleet_ingest_batch_size", Help: "Pushes made durable per write: a database commit, or on SQLite an ingest journal write.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		TokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxfleet_token_refreshes_total", Help: "Token refreshes, by kind and result.",
		}, []string{"kind", "result"}),
		RolloutSteps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxfleet_rollout_steps_total", Help: "Rollout steps by step and result (step \"move\": apps reaching the state in result).",
		}, []string{"step", "result"}),
		WeChatCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxfleet_wechat_calls_total", Help: "Calls to WeChat, by API path and errcode (-2: no answer).",
		}, []string{"path", "errcode"}),
		WeChatLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wxfleet_wechat_call_seconds", Help: "Latency of calls to WeChat, by API path.",
			Buckets: prometheus.DefBuckets,
		}, []string{"path"}),
		WeChatDefects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxfleet_wechat_platform_defects_total",
			Help: "WeChat answers saying the platform sent something wrong (41001, 41004, 41018, 44002, 47001), by API path and errcode.",
		}, []string{"path", "errcode"}),
	}
	m.Registry.MustRegister(m.Pushes, m.IngestBatch, m.TokenRefreshes, m.RolloutSteps, m.WeChatCalls, m.WeChatLatency, m.WeChatDefects,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchIngestBacklog exports how many acknowledged pushes wait in the ingest
// journal for the database.
func (m *Metrics) WatchIngestBacklog(backlog func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wxfleet_ingest_journal_backlog", Help: "Acknowledged pushes in the ingest journal not yet moved to the database.",
	}, backlog))
}

// ObserveWeChat is the wechat client's Observe hook.
func (m *Metrics) ObserveWeChat(path string, errcode int, d time.Duration) {
	m.WeChatCalls.WithLabelValues(path, strconv.Itoa(errcode)).Inc()
	m.WeChatLatency.WithLabelValues(path).Observe(d.Seconds())
	if wechat.IsPlatformDefect(errcode) {
		m.WeChatDefects.WithLabelValues(path, strconv.Itoa(errcode)).Inc()
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// WatchTicketAge exports the age in seconds of a platform's latest
// component_verify_ticket, read at scrape time (-1: none yet). Read at scrape
// rather than set on push, so every instance reports what the shared store holds.
func (m *Metrics) WatchTicketAge(componentAppID string, age func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "wxfleet_component_ticket_age_seconds",
		Help:        "Age of the latest component_verify_ticket, by platform (-1: none).",
		ConstLabels: prometheus.Labels{"component_appid": componentAppID},
	}, age))
}
