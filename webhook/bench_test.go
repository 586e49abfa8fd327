package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/webhook"
)

// BenchmarkEmitWithoutEndpoints is what a user message costs a platform
// with no webhook: one read.
func BenchmarkEmitWithoutEndpoints(b *testing.B) {
	h := newHarness(b, storetest.SQLite, 12)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.svc.Emit(ctx, nil, webhook.Event{Type: webhook.MessageReceived, ComponentAppID: comp, AppID: "wxapp"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmitAndDeliver emits b.N events to one endpoint and waits until
// every one is delivered (SQLite; 4 delivery workers; a receiver that
// answers 204 at once): events a second, end to end.
func BenchmarkEmitAndDeliver(b *testing.B) {
	h := newHarness(b, storetest.SQLite, 12)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	e := h.create(srv.URL, []string{"*"}, 0)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.emit(webhook.Event{Type: webhook.MessageReceived, AppID: "wxapp", Data: map[string]int{"i": i}})
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs-emit/op")
	for {
		n, err := h.st.ListWebhookDeliveries(ctx, wxfleet.Scope{}, comp, store.WebhookDeliveryFilter{EndpointID: e.ID, Status: wxfleet.DeliveryPending, Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		if len(n) == 0 {
			break
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
