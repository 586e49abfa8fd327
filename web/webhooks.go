package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/webhook"
)

// webhookRoutes registers the webhook API (docs/webhooks.md). Endpoints
// are tenant data: a merchant's user manages its own tenant's, bounded by
// its Scope in the store.
func (s *Server) webhookRoutes(mux *http.ServeMux) {
	if s.Webhooks == nil {
		return
	}
	s.api(mux, "POST /api/v1/webhooks", TenantWrite("webhook.create"), s.createWebhook)
	s.api(mux, "GET /api/v1/webhooks", TenantRead(), s.listWebhooks)
	s.api(mux, "GET /api/v1/webhooks/dead-letters", TenantRead(), s.webhookDeadLetters)
	s.api(mux, "GET /api/v1/webhooks/{id}", TenantRead(), s.getWebhook)
	s.api(mux, "PATCH /api/v1/webhooks/{id}", TenantWrite("webhook.update"), s.updateWebhook)
	s.api(mux, "DELETE /api/v1/webhooks/{id}", TenantWrite("webhook.delete"), s.deleteWebhook)
	s.api(mux, "POST /api/v1/webhooks/{id}/rotate-secret", TenantWrite("webhook.rotate_secret"), s.rotateWebhookSecret)
	s.api(mux, "GET /api/v1/webhooks/{id}/deliveries", TenantRead(), s.listWebhookDeliveries)
	s.api(mux, "GET /api/v1/webhook-deliveries/{id}", TenantRead(), s.getWebhookDelivery)
	s.api(mux, "POST /api/v1/webhook-deliveries/{id}/redeliver", TenantWrite("webhook.redeliver"), s.redeliverWebhook)
}

type webhookJSON struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	TenantID    int64     `json:"tenant_id,omitempty"`
	Disabled    bool      `json:"disabled"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Secret is shown once: when the endpoint is made and when it is rotated.
	Secret string `json:"secret,omitempty"`
}

func toWebhookJSON(e *wxfleet.WebhookEndpoint) webhookJSON {
	return webhookJSON{ID: e.ID, URL: e.URL, Events: e.Events, TenantID: e.TenantID, Disabled: e.Disabled,
		Description: e.Description, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	var req webhook.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	e, err := s.Webhooks.Create(r.Context(), comp, req)
	if err != nil {
		return err
	}
	auditTarget(r, comp, "", e.ID)
	auditTenant(r, e.TenantID)
	auditDetail(r, map[string]any{"url": redactQuery(e.URL), "events": e.Events})
	out := toWebhookJSON(e)
	out.Secret = e.Secret.Reveal()
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 100, 500)
	if err != nil {
		return err
	}
	list, err := s.Webhooks.List(r.Context(), comp, r.URL.Query().Get("cursor"), n)
	if err != nil {
		return err
	}
	items := make([]webhookJSON, len(list))
	for i, e := range list {
		items[i] = toWebhookJSON(e)
	}
	resp := map[string]any{"items": items, "next_cursor": nil}
	if len(list) == n {
		resp["next_cursor"] = list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	e, err := s.Webhooks.Get(r.Context(), comp, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWebhookJSON(e))
	return nil
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	var req webhook.UpdateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	e, err := s.Webhooks.Update(r.Context(), comp, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	auditTarget(r, comp, "", e.ID)
	auditTenant(r, e.TenantID)
	auditDetail(r, map[string]any{"url": redactQuery(e.URL), "events": e.Events, "disabled": e.Disabled})
	writeJSON(w, http.StatusOK, toWebhookJSON(e))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	if err := s.Webhooks.Delete(r.Context(), comp, r.PathValue("id")); err != nil {
		return err
	}
	auditTarget(r, comp, "", r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	sec, err := s.Webhooks.RotateSecret(r.Context(), comp, id)
	if err != nil {
		return err
	}
	auditTarget(r, comp, "", id)
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "secret": sec.Reveal()})
	return nil
}

type webhookAttemptJSON struct {
	Attempt    int       `json:"attempt"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
	At         time.Time `json:"at"`
}

type webhookDeliveryJSON struct {
	ID             string               `json:"id"`
	WebhookID      string               `json:"webhook_id"`
	EventID        string               `json:"event_id"`
	EventType      string               `json:"event_type"`
	Status         string               `json:"status"`
	Attempts       int                  `json:"attempts"`
	LastStatusCode int                  `json:"last_status_code,omitempty"`
	LastError      string               `json:"last_error,omitempty"`
	CreatedAt      time.Time            `json:"created_at"`
	UpdatedAt      time.Time            `json:"updated_at"`
	DeliveredAt    *time.Time           `json:"delivered_at,omitempty"`
	AttemptLog     []webhookAttemptJSON `json:"attempt_log"`
	Event          json.RawMessage      `json:"event,omitempty"` // one delivery's read only: the body it sends
}

func toDeliveryJSON(d *wxfleet.WebhookDelivery) webhookDeliveryJSON {
	out := webhookDeliveryJSON{ID: d.ID, WebhookID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, Status: string(d.Status),
		Attempts: d.Attempts, LastStatusCode: d.LastStatusCode, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		DeliveredAt: timePtr(d.DeliveredAt), AttemptLog: make([]webhookAttemptJSON, len(d.AttemptLog))}
	for i, a := range d.AttemptLog {
		out.AttemptLog[i] = webhookAttemptJSON{Attempt: a.Attempt, StatusCode: a.StatusCode, Error: a.Error,
			DurationMS: a.Duration.Milliseconds(), At: a.At}
	}
	return out
}

// deliveriesPage answers a page of deliveries for f (endpoint and status set
// by the caller; cursor and limit from the query).
func (s *Server) deliveriesPage(w http.ResponseWriter, r *http.Request, comp string, f store.WebhookDeliveryFilter) error {
	n, err := limit(r, 50, 500)
	if err != nil {
		return err
	}
	f.Limit, f.Cursor = n, r.URL.Query().Get("cursor")
	list, err := s.Webhooks.Deliveries(r.Context(), comp, f)
	if err != nil {
		return err
	}
	items := make([]webhookDeliveryJSON, len(list))
	for i, d := range list {
		items[i] = toDeliveryJSON(d)
	}
	resp := map[string]any{"items": items, "next_cursor": nil}
	if len(list) == n {
		resp["next_cursor"] = list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	return s.deliveriesPage(w, r, comp, store.WebhookDeliveryFilter{EndpointID: r.PathValue("id"),
		Status: wxfleet.DeliveryStatus(r.URL.Query().Get("status"))})
}

func (s *Server) webhookDeadLetters(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	return s.deliveriesPage(w, r, comp, store.WebhookDeliveryFilter{Status: wxfleet.DeliveryDead})
}

func (s *Server) getWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	d, ev, err := s.Webhooks.Delivery(r.Context(), comp, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := toDeliveryJSON(d)
	out.Event = ev.Payload
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) redeliverWebhook(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.Webhooks.Redeliver(r.Context(), comp, id); err != nil {
		return err
	}
	auditTarget(r, comp, "", id)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": string(wxfleet.DeliveryPending)})
	return nil
}

// redactQuery is a URL for the audit log: its query may hold the
// receiver's own token.
func redactQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}
