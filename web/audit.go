package web

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// auditJSON is an audit entry as the API shows it.
type auditJSON struct {
	ID             int64           `json:"id"`
	At             *time.Time      `json:"at"`
	ActorID        int64           `json:"actor_id,omitempty"`
	ActorName      string          `json:"actor"`
	Via            string          `json:"via"`
	Action         string          `json:"action"`
	TenantID       int64           `json:"tenant_id,omitempty"`
	ComponentAppID string          `json:"component_appid,omitempty"`
	AppID          string          `json:"appid,omitempty"`
	Target         string          `json:"target,omitempty"`
	Detail         json.RawMessage `json:"detail"`
	ClientIP       string          `json:"client_ip,omitempty"`
}

func toAuditJSON(e *wxfleet.AuditEntry) auditJSON {
	detail := json.RawMessage(e.Detail)
	if !json.Valid(detail) {
		detail = json.RawMessage(`{}`)
	}
	return auditJSON{ID: e.ID, At: timePtr(e.At), ActorID: e.ActorID, ActorName: e.ActorName, Via: e.Via, Action: e.Action,
		TenantID: e.TenantID, ComponentAppID: e.ComponentAppID, AppID: e.AppID, Target: e.Target, Detail: detail, ClientIP: e.ClientIP}
}

// auditFilter reads the filters of GET /api/v1/audit-log and the page:
// tenant_id, action (exact, or a prefix ending in "."), actor (email),
// actor_id, cursor, limit.
func auditFilter(r *http.Request) (store.AuditFilter, error) {
	q := r.URL.Query()
	n, err := limit(r, 50, 500)
	if err != nil {
		return store.AuditFilter{}, err
	}
	f := store.AuditFilter{Action: q.Get("action"), ActorName: q.Get("actor"), Limit: n}
	for name, dst := range map[string]*int64{"tenant_id": &f.TenantID, "actor_id": &f.ActorID, "cursor": &f.Before} {
		if v := q.Get(name); v != "" {
			if *dst, err = strconv.ParseInt(v, 10, 64); err != nil || *dst < 0 {
				return store.AuditFilter{}, wxfleet.Errorf(wxfleet.EINVALID, "%s 须是非负整数 / %s must be a non-negative integer", name, name)
			}
		}
	}
	return f, nil
}

// listAudit: GET /api/v1/audit-log, newest first, bounded by the caller's
// scope (a merchant sees its own tenant's entries only).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	actor, _ := wxfleet.ActorFrom(r.Context())
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	list, err := s.Store.ListAudit(r.Context(), actor.Scope(), f)
	if err != nil {
		return err
	}
	items := make([]auditJSON, len(list))
	for i, e := range list {
		items[i] = toAuditJSON(e)
	}
	next := ""
	if len(list) == f.Limit {
		next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	return nil
}

// auditPage is the console's audit log: the same list and filters.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	actor, _ := wxfleet.ActorFrom(r.Context())
	f, err := auditFilter(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/audit-log")
		return
	}
	list, err := s.Store.ListAudit(r.Context(), actor.Scope(), f)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	items := make([]auditJSON, len(list))
	for i, e := range list {
		items[i] = toAuditJSON(e)
	}
	data := map[string]any{"Title": "审计日志 Audit log", "Items": items, "Action": f.Action, "ActorName": f.ActorName,
		"Staff": actor.Role.Staff(), "Tenant": ""}
	if f.TenantID != 0 {
		data["Tenant"] = strconv.FormatInt(f.TenantID, 10)
	}
	if len(list) == f.Limit {
		q := r.URL.Query()
		q.Set("cursor", strconv.FormatInt(list[len(list)-1].ID, 10))
		data["Next"], data["NextQuery"] = true, template.URL("?"+q.Encode())
	}
	s.render(w, r, http.StatusOK, "audit", data)
}
