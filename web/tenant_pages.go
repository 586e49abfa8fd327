package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// tenantRow is one line of the tenants page.
type tenantRow struct {
	tenantJSON
	PlanName  string
	ExpiresAt *time.Time
	Expired   bool
}

// tenantsPage lists tenants, 50 a page (keyset on the id), filtered by
// status, tag and name as the API is.
func (s *Server) tenantsPage(w http.ResponseWriter, r *http.Request) {
	sc := wxfleet.Scope{} // the console is the ISV's staff
	if a, ok := wxfleet.ActorFrom(r.Context()); ok {
		sc = a.Scope()
	}
	q := r.URL.Query()
	const pageSize = 50
	f := store.TenantFilter{Tag: q.Get("tag"), Q: q.Get("q"), Limit: pageSize}
	var err error
	if v := q.Get("status"); v != "" {
		if f.Status, err = wxfleet.ParseTenantStatus(v); err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/tenants")
			return
		}
	}
	if c := q.Get("cursor"); c != "" {
		f.Cursor, _ = strconv.ParseInt(c, 10, 64)
	}
	list, err := s.Store.ListTenants(r.Context(), sc, f)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	plans, err := s.Store.ListPlans(r.Context())
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	planNames := map[int64]string{}
	for _, p := range plans {
		planNames[p.ID] = p.Name
	}
	now := s.Now()
	rows := make([]tenantRow, 0, len(list))
	for _, t := range list {
		row := tenantRow{tenantJSON: toTenantJSON(t), PlanName: planNames[t.PlanID]}
		if sub, err := s.Store.Subscription(r.Context(), sc, t.ID); err == nil {
			exp := sub.ExpiresAt
			row.ExpiresAt, row.Expired = &exp, sub.Expired(now)
		}
		rows = append(rows, row)
	}
	next := ""
	if len(list) == pageSize {
		next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	s.render(w, r, http.StatusOK, "tenants", map[string]any{
		"Title": "租户 Tenants", "Items": rows, "Next": next, "Status": string(f.Status), "Tag": f.Tag, "Q": f.Q,
		"Statuses": wxfleet.TenantStatuses(), "Plans": plans,
	})
}
