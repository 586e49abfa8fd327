package web

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/tenant"
)

// tenantRoutes are tenants, their plans and subscriptions (issue 10).
func (s *Server) tenantRoutes(api func(string, func(http.ResponseWriter, *http.Request) error)) {
	api("POST /api/v1/tenants", s.createTenant)
	api("GET /api/v1/tenants", s.listTenants)
	api("GET /api/v1/tenants/{id}", s.getTenant)
	api("PATCH /api/v1/tenants/{id}", s.patchTenant)
	api("GET /api/v1/tenants/{id}/settings", s.getTenantSettings)
	api("PUT /api/v1/tenants/{id}/settings", s.putTenantSettings)
	api("POST /api/v1/tenants/{id}/authorization-links", s.createTenantLink)
	api("GET /api/v1/tenants/{id}/subscription", s.getSubscription)
	api("POST /api/v1/tenants/{id}/subscription", s.subscribe)
	api("POST /api/v1/tenants/{id}/subscription/renew", s.renewSubscription)
	api("GET /api/v1/tenants/{id}/reminders", s.listReminders)
	api("PUT /api/v1/authorizers/{appid}/tenant", s.putAuthorizerTenant)
	api("POST /api/v1/plans", s.createPlan)
	api("GET /api/v1/plans", s.listPlans)
	api("GET /api/v1/plans/{id}", s.getPlan)
	api("PATCH /api/v1/plans/{id}", s.patchPlan)
}

type tenantJSON struct {
	ID        int64                `json:"id"`
	Name      string               `json:"name"`
	Contact   string               `json:"contact"`
	Status    wxfleet.TenantStatus `json:"status"`
	Tags      []string             `json:"tags"`
	PlanID    *int64               `json:"plan_id"`
	CreatedAt time.Time            `json:"created_at"`
	UpdatedAt time.Time            `json:"updated_at"`
}

func toTenantJSON(t *wxfleet.Tenant) tenantJSON {
	out := tenantJSON{ID: t.ID, Name: t.Name, Contact: t.Contact, Status: t.Status, Tags: t.Tags, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if t.PlanID != 0 {
		id := t.PlanID
		out.PlanID = &id
	}
	return out
}

type planJSON struct {
	ID              int64     `json:"id"`
	Name            string    `json:"name"`
	YearlyPrice     int64     `json:"yearly_price"`
	MaxMiniPrograms int       `json:"max_mini_programs"`
	Features        []string  `json:"features"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func toPlanJSON(p *wxfleet.Plan) *planJSON {
	if p == nil {
		return nil
	}
	out := &planJSON{ID: p.ID, Name: p.Name, YearlyPrice: p.YearlyPrice, MaxMiniPrograms: p.MaxMiniPrograms, Features: p.Features,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	if out.Features == nil {
		out.Features = []string{}
	}
	return out
}

type subscriptionJSON struct {
	TenantID  int64     `json:"tenant_id"`
	PlanID    int64     `json:"plan_id"`
	StartsAt  time.Time `json:"starts_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Renewals  int       `json:"renewals"`
	Expired   bool      `json:"expired"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toSubscriptionJSON(sub *wxfleet.Subscription, now time.Time) *subscriptionJSON {
	if sub == nil {
		return nil
	}
	return &subscriptionJSON{TenantID: sub.TenantID, PlanID: sub.PlanID, StartsAt: sub.StartsAt, ExpiresAt: sub.ExpiresAt,
		Renewals: sub.Renewals, Expired: sub.Expired(now), UpdatedAt: sub.UpdatedAt}
}

type tenantAppJSON struct {
	ComponentAppID string                   `json:"component_appid"`
	AppID          string                   `json:"appid"`
	Status         wxfleet.AuthorizerStatus `json:"status"`
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayChange(r)
	if err != nil {
		return err
	}
	var req tenant.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t, err := s.Tenants.Create(r.Context(), sc, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toTenantJSON(t))
	return nil
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayRead(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 50, 500)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.TenantFilter{Tag: q.Get("tag"), Q: q.Get("q"), Limit: n}
	if v := q.Get("status"); v != "" {
		if f.Status, err = wxfleet.ParseTenantStatus(v); err != nil {
			return err
		}
	}
	if c := q.Get("cursor"); c != "" {
		if f.Cursor, err = strconv.ParseInt(c, 10, 64); err != nil || f.Cursor < 1 {
			return wxfleet.Errorf(wxfleet.EINVALID, "cursor 必须是上一页返回的 next_cursor / cursor must be a next_cursor from a previous page")
		}
	}
	list, err := s.Store.ListTenants(r.Context(), sc, f)
	if err != nil {
		return err
	}
	items := make([]tenantJSON, 0, len(list))
	for _, t := range list {
		items = append(items, toTenantJSON(t))
	}
	var next *string
	if len(list) == n {
		c := strconv.FormatInt(list[len(list)-1].ID, 10)
		next = &c
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	return nil
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayRead(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := s.Tenants.Get(r.Context(), sc, id)
	if err != nil {
		return err
	}
	appids := make([]string, 0, len(d.Apps))
	apps := make([]tenantAppJSON, 0, len(d.Apps))
	for _, a := range d.Apps {
		appids = append(appids, a.AppID)
		apps = append(apps, tenantAppJSON{ComponentAppID: a.ComponentAppID, AppID: a.AppID, Status: a.Status})
	}
	writeJSON(w, http.StatusOK, struct {
		tenantJSON
		Authorizers  []string          `json:"authorizers"`
		Apps         []tenantAppJSON   `json:"apps"`
		Plan         *planJSON         `json:"plan"`
		Subscription *subscriptionJSON `json:"subscription"`
		OpenLinks    int               `json:"open_links"`
	}{toTenantJSON(d.Tenant), appids, apps, toPlanJSON(d.Plan), toSubscriptionJSON(d.Subscription, s.Now()), d.OpenLinks})
	return nil
}

func (s *Server) patchTenant(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayChange(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req tenant.PatchRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t, err := s.Tenants.Update(r.Context(), sc, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toTenantJSON(t))
	return nil
}

func (s *Server) getTenantSettings(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayRead(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.Tenants.Settings(r.Context(), sc, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// putTenantSettings replaces the tenant's runtime settings with the body:
// one JSON object, at most tenant.MaxSettingsBytes.
func (s *Server) putTenantSettings(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayChange(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body) // capped by the route
	if err != nil {
		return bodyErr(err)
	}
	v, err := s.Tenants.SetSettings(r.Context(), sc, id, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// createTenantLink is POST /api/v1/authorization-links for one tenant: the
// mini program authorized through the link lands on the tenant.
func (s *Server) createTenantLink(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayChange(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		authorization.LinkRequest
		Platform string `json:"platform"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	comp := req.Platform
	if comp == "" {
		if comp, err = s.platform(r); err != nil {
			return err
		}
	}
	link, err := s.Tenants.CreateLink(r.Context(), sc, id, comp, req.LinkRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, link)
	return nil
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayRead(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sub, err := s.Store.Subscription(r.Context(), sc, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSubscriptionJSON(sub, s.Now()))
	return nil
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayChange(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req tenant.SubscribeRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	sub, err := s.Tenants.Subscribe(r.Context(), sc, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toSubscriptionJSON(sub, s.Now()))
	return nil
}

func (s *Server) renewSubscription(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayChange(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		Years int `json:"years"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	sub, err := s.Tenants.Renew(r.Context(), sc, id, req.Years)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSubscriptionJSON(sub, s.Now()))
	return nil
}

func (s *Server) listReminders(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayRead(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	list, err := s.Store.Reminders(r.Context(), sc, id)
	if err != nil {
		return err
	}
	type reminderJSON struct {
		Kind      string    `json:"kind"`
		ExpiresAt time.Time `json:"expires_at"`
		SentAt    time.Time `json:"sent_at"`
	}
	items := make([]reminderJSON, 0, len(list))
	for _, rm := range list {
		items = append(items, reminderJSON{Kind: rm.Kind, ExpiresAt: rm.ExpiresAt, SentAt: rm.SentAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *Server) createPlan(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayOwn(r)
	if err != nil {
		return err
	}
	var req tenant.PlanRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	p, err := s.Tenants.CreatePlan(r.Context(), sc, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toPlanJSON(p))
	return nil
}

func (s *Server) listPlans(w http.ResponseWriter, r *http.Request) error {
	if _, err := mayRead(r); err != nil {
		return err
	}
	list, err := s.Store.ListPlans(r.Context())
	if err != nil {
		return err
	}
	items := make([]*planJSON, 0, len(list))
	for _, p := range list {
		items = append(items, toPlanJSON(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request) error {
	if _, err := mayRead(r); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.Store.Plan(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPlanJSON(p))
	return nil
}

func (s *Server) patchPlan(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayOwn(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req tenant.PlanRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	p, err := s.Tenants.UpdatePlan(r.Context(), sc, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPlanJSON(p))
	return nil
}

// putAuthorizerTenant puts a mini program under a tenant: {"tenant_id": N},
// or under none: {"tenant_id": null}.
func (s *Server) putAuthorizerTenant(w http.ResponseWriter, r *http.Request) error {
	sc, err := mayChange(r)
	if err != nil {
		return err
	}
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	var req struct {
		TenantID *int64 `json:"tenant_id"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	var id int64
	if req.TenantID != nil {
		if id = *req.TenantID; id < 1 {
			return wxfleet.Errorf(wxfleet.EINVALID, "tenant_id 须是正整数或 null / tenant_id must be a positive integer or null")
		}
	}
	a, err := s.Tenants.AssignApp(r.Context(), sc, comp, r.PathValue("appid"), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAuthorizerJSON(a, s.Now(), false))
	return nil
}

// tenantIDParam reads ?tenant_id= (0 when absent).
func tenantIDParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("tenant_id")
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "tenant_id 须是正整数 / tenant_id must be a positive integer")
	}
	return id, nil
}
