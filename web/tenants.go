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

// tenantRoutes are tenants, their plans and subscriptions (issue 10), each
// declaring who may call it (access.go): tenants' own reads are
// tenant-scoped (a merchant sees its own tenant, bounded by the store through
// the actor's Scope); changing tenants is for operators and owners, plans
// for owners.
func (s *Server) tenantRoutes(mux *http.ServeMux) {
	s.api(mux, "POST /api/v1/tenants", StaffWrite("tenant.create"), s.createTenant)
	s.api(mux, "GET /api/v1/tenants", TenantRead(), s.listTenants)
	s.api(mux, "GET /api/v1/tenants/{id}", TenantRead(), s.getTenant)
	s.api(mux, "PATCH /api/v1/tenants/{id}", StaffWrite("tenant.update"), s.patchTenant)
	s.api(mux, "GET /api/v1/tenants/{id}/settings", TenantRead(), s.getTenantSettings)
	s.api(mux, "PUT /api/v1/tenants/{id}/settings", StaffWrite("tenant.settings"), s.putTenantSettings)
	s.api(mux, "POST /api/v1/tenants/{id}/authorization-links", StaffWrite("tenant.authorization_link"), s.createTenantLink)
	s.api(mux, "GET /api/v1/tenants/{id}/subscription", TenantRead(), s.getSubscription)
	s.api(mux, "POST /api/v1/tenants/{id}/subscription", StaffWrite("subscription.create"), s.subscribe)
	s.api(mux, "POST /api/v1/tenants/{id}/subscription/renew", StaffWrite("subscription.renew"), s.renewSubscription)
	s.api(mux, "GET /api/v1/tenants/{id}/reminders", TenantRead(), s.listReminders)
	s.api(mux, "PUT /api/v1/authorizers/{appid}/tenant", StaffWrite("authorizer.tenant"), s.putAuthorizerTenant)
	s.api(mux, "POST /api/v1/plans", OwnerWrite("plan.create"), s.createPlan)
	s.api(mux, "GET /api/v1/plans", StaffRead(), s.listPlans)
	s.api(mux, "GET /api/v1/plans/{id}", StaffRead(), s.getPlan)
	s.api(mux, "PATCH /api/v1/plans/{id}", OwnerWrite("plan.update"), s.patchPlan)
}

// tenants is the tenant service; a server built without one (tests of
// other features) gets one on its store.
func (s *Server) tenants() *tenant.Service {
	if s.Tenants != nil {
		return s.Tenants
	}
	return &tenant.Service{Store: s.Store, Links: s.Auth, Now: s.Now, Logger: s.Logger}
}

// scopeOf is the tenants the request's actor is bounded by (the route's
// access was checked by its wrapper).
func scopeOf(r *http.Request) wxfleet.Scope {
	a, _ := wxfleet.ActorFrom(r.Context())
	return a.Scope()
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
	sc := scopeOf(r)
	var req tenant.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t, err := s.tenants().Create(r.Context(), sc, req)
	if err != nil {
		return err
	}
	auditTenant(r, t.ID)
	writeJSON(w, http.StatusCreated, toTenantJSON(t))
	return nil
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) error {
	sc := scopeOf(r)
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
	if f.Cursor, err = cursorParam(r); err != nil {
		return err
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
	sc := scopeOf(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := s.tenants().Get(r.Context(), sc, id)
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
	sc := scopeOf(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	auditTenant(r, id)
	var req tenant.PatchRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t, err := s.tenants().Update(r.Context(), sc, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toTenantJSON(t))
	return nil
}

func (s *Server) getTenantSettings(w http.ResponseWriter, r *http.Request) error {
	sc := scopeOf(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.tenants().Settings(r.Context(), sc, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// putTenantSettings replaces the tenant's runtime settings with the body:
// one JSON object, at most tenant.MaxSettingsBytes.
func (s *Server) putTenantSettings(w http.ResponseWriter, r *http.Request) error {
	sc := scopeOf(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	auditTenant(r, id)
	body, err := io.ReadAll(r.Body) // capped by the route
	if err != nil {
		return bodyErr(err)
	}
	v, err := s.tenants().SetSettings(r.Context(), sc, id, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// createTenantLink is POST /api/v1/authorization-links for one tenant: the
// mini program authorized through the link lands on the tenant.
func (s *Server) createTenantLink(w http.ResponseWriter, r *http.Request) error {
	sc := scopeOf(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	auditTenant(r, id)
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
	link, err := s.tenants().CreateLink(r.Context(), sc, id, comp, req.LinkRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, link)
	return nil
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) error {
	sc := scopeOf(r)
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
	sc := scopeOf(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	auditTenant(r, id)
	var req tenant.SubscribeRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	sub, err := s.tenants().Subscribe(r.Context(), sc, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toSubscriptionJSON(sub, s.Now()))
	return nil
}

func (s *Server) renewSubscription(w http.ResponseWriter, r *http.Request) error {
	sc := scopeOf(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	auditTenant(r, id)
	var req struct {
		Years int `json:"years"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	sub, err := s.tenants().Renew(r.Context(), sc, id, req.Years)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSubscriptionJSON(sub, s.Now()))
	return nil
}

func (s *Server) listReminders(w http.ResponseWriter, r *http.Request) error {
	sc := scopeOf(r)
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
	sc := scopeOf(r)
	var req tenant.PlanRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	p, err := s.tenants().CreatePlan(r.Context(), sc, req)
	if err != nil {
		return err
	}
	auditTarget(r, "", "", "plan:"+strconv.FormatInt(p.ID, 10))
	writeJSON(w, http.StatusCreated, toPlanJSON(p))
	return nil
}

func (s *Server) listPlans(w http.ResponseWriter, r *http.Request) error {
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
	sc := scopeOf(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	auditTarget(r, "", "", "plan:"+strconv.FormatInt(id, 10))
	var req tenant.PlanRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	p, err := s.tenants().UpdatePlan(r.Context(), sc, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPlanJSON(p))
	return nil
}

// putAuthorizerTenant puts a mini program under a tenant: {"tenant_id": N},
// or under none: {"tenant_id": null}.
func (s *Server) putAuthorizerTenant(w http.ResponseWriter, r *http.Request) error {
	sc := scopeOf(r)
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
	a, err := s.tenants().AssignApp(r.Context(), sc, comp, r.PathValue("appid"), id)
	if err != nil {
		return err
	}
	auditTarget(r, comp, a.AppID, "")
	auditTenant(r, id)
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
