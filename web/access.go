package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// Access is what a route declares about who may call it; every route of the
// API and the console is registered with one (Server.api, Server.page), and
// wrapAccess enforces it in this one place:
//
//   - a viewer calls GET routes only;
//   - an operator calls everything but the owner's routes (accounts, other
//     people's API tokens, plan pricing);
//   - an owner calls everything;
//   - a merchant calls only routes declared tenant-scoped, whose handlers
//     bound every read and write by the actor's Scope.
//
// A mutating route names the audit action a successful call records.
type Access struct {
	roles  []wxfleet.Role
	tenant bool   // merchants may call it
	audit  string // the action a successful mutating call records
}

// Roles is who may call the route.
func (a Access) Roles() []wxfleet.Role { return slices.Clone(a.roles) }

// TenantScoped reports whether merchants may call the route.
func (a Access) TenantScoped() bool { return a.tenant }

// AuditAction is what a successful call records in the audit log ("" for reads).
func (a Access) AuditAction() string { return a.audit }

var (
	staffAll     = []wxfleet.Role{wxfleet.RoleOwner, wxfleet.RoleOperator, wxfleet.RoleViewer}
	staffWriters = []wxfleet.Role{wxfleet.RoleOwner, wxfleet.RoleOperator}
	ownerRole    = []wxfleet.Role{wxfleet.RoleOwner}
)

// StaffRead: the ISV's staff read it; merchants may not.
func StaffRead() Access { return Access{roles: staffAll} }

// OperatorRead: a read that hands out a credential (an authorizer's access
// token): owners and operators, not viewers.
func OperatorRead() Access { return Access{roles: staffWriters} }

// StaffWrite: owners and operators change it, recording action.
func StaffWrite(action string) Access { return Access{roles: staffWriters, audit: action} }

// OwnerRead: owners only read it.
func OwnerRead() Access { return Access{roles: ownerRole} }

// OwnerWrite: owners only change it, recording action.
func OwnerWrite(action string) Access { return Access{roles: ownerRole, audit: action} }

// TenantRead: staff and merchants read it; the handler bounds it by the
// actor's Scope.
func TenantRead() Access {
	return Access{roles: append(slices.Clone(staffAll), wxfleet.RoleMerchant), tenant: true}
}

// TenantWrite: owners, operators and merchants change it (a merchant only
// inside its tenant: the handler bounds it by the actor's Scope), recording action.
func TenantWrite(action string) Access {
	return Access{roles: append(slices.Clone(staffWriters), wxfleet.RoleMerchant), tenant: true, audit: action}
}

func (a Access) allows(r wxfleet.Role) bool { return slices.Contains(a.roles, r) }

// Route is one registered route and its access, for the isolation sweep and
// the guard.
type Route struct {
	Pattern string
	Access  Access
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// checkDeclaration refuses, at registration, a route whose declaration does
// not fit its method: a mutating route without an audit action, a read with
// one, a viewer on a mutating route, a route nobody may call.
func checkDeclaration(pattern string, a Access) {
	method, _, _ := strings.Cut(pattern, " ")
	switch {
	case len(a.roles) == 0:
		panic("web: route " + pattern + " declares no access")
	case method == "" || strings.HasPrefix(method, "/"):
		panic("web: route " + pattern + " names no method")
	case safeMethod(method) && a.audit != "":
		panic("web: read route " + pattern + " declares an audit action")
	case !safeMethod(method) && a.audit == "":
		panic("web: mutating route " + pattern + " declares no audit action")
	case !safeMethod(method) && a.allows(wxfleet.RoleViewer):
		panic("web: mutating route " + pattern + " lets viewers in")
	}
}

// register records the route's declaration; a pattern registered twice is
// a mistake the mux would panic on anyway.
func (s *Server) register(pattern string, a Access) {
	checkDeclaration(pattern, a)
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	if s.declared == nil {
		s.declared = map[string]Access{}
	}
	s.declared[pattern] = a
	s.routes = append(s.routes, Route{Pattern: pattern, Access: a})
}

// Routes lists the registered API and console routes with their access.
func (s *Server) Routes() []Route {
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	return slices.Clone(s.routes)
}

// Declared reports whether pattern was registered with an access declaration.
func (s *Server) Declared(pattern string) bool {
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	_, ok := s.declared[pattern]
	return ok
}

// GuardAPI serves mux, refusing any /api/ request whose route was put on the
// mux without an access declaration (straight mux.Handle by some feature):
// such a route is unreachable, not open.
func (s *Server) GuardAPI(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if _, pattern := mux.Handler(r); pattern != "" && pattern != apiFallback && !s.Declared(pattern) {
				s.Logger.Error("route registered without an access declaration: refused", "pattern", pattern)
				s.apiError(w, r, wxfleet.Errorf(wxfleet.EFORBIDDEN, "该接口未声明访问权限 / this route declares no access and is refused: %s", pattern))
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

const apiFallback = "/api/"

// authorize checks actor against the route's access: 403 with a sentence
// naming what is missing.
func authorize(a Access, actor wxfleet.Actor, method string) error {
	if actor.Role == wxfleet.RoleViewer && !safeMethod(method) {
		return wxfleet.Errorf(wxfleet.EFORBIDDEN, "只读帐号不能修改 / a viewer cannot change anything")
	}
	if actor.Role == wxfleet.RoleMerchant && !a.tenant {
		return wxfleet.Errorf(wxfleet.EFORBIDDEN, "商户帐号不能访问此接口 / merchant accounts cannot use this route")
	}
	if !a.allows(actor.Role) {
		return wxfleet.Errorf(wxfleet.EFORBIDDEN, "角色 %s 不能访问此接口 / role %s may not use this route", actor.Role, actor.Role)
	}
	return nil
}

// auditNote is a mutating call's audit entry, filled by the handler
// (target, tenant, app, detail) and written by the wrapper after success
// unless the handler wrote it in its own transaction.
type auditNote struct {
	entry   wxfleet.AuditEntry
	written bool
	skip    bool
}

type auditKey struct{}

// noteOf returns the request's audit note, or a throwaway one outside a
// mutating route.
func noteOf(r *http.Request) *auditNote {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		return n
	}
	return &auditNote{}
}

// auditTarget sets what the call acted on.
func auditTarget(r *http.Request, componentAppID, appID, target string) {
	n := noteOf(r)
	n.entry.ComponentAppID, n.entry.AppID, n.entry.Target = componentAppID, appID, target
}

// auditTenant sets the tenant the call acted on (a staff call on a
// tenant; a merchant's calls name its own tenant already).
func auditTenant(r *http.Request, tenantID int64) { noteOf(r).entry.TenantID = tenantID }

// auditDetail sets the entry's detail: a small JSON object, never a secret.
func auditDetail(r *http.Request, detail map[string]any) { auditDetailOn(&noteOf(r).entry, detail) }

// auditAction overrides the declared action (a route whose path names it).
func auditAction(r *http.Request, action string) { noteOf(r).entry.Action = action }

// auditSkip records nothing for this call (a dry run changes nothing).
func auditSkip(r *http.Request) { noteOf(r).skip = true }

// auditInTx hands the entry to a store method that writes it in the
// action's own transaction; the wrapper then writes nothing.
func (s *Server) auditInTx(r *http.Request) *wxfleet.AuditEntry {
	n := noteOf(r)
	n.written = true
	n.entry.At = s.Now()
	return &n.entry
}

// withAudit starts the audit note of a mutating call by actor.
func (s *Server) withAudit(r *http.Request, a Access, actor wxfleet.Actor) (*http.Request, *auditNote) {
	if a.audit == "" {
		return r, nil
	}
	n := &auditNote{entry: wxfleet.AuditEntry{
		ActorID: actor.AccountID, ActorName: actor.Name, Via: actor.Via, Action: a.audit,
		TenantID: actor.TenantID, ClientIP: s.clientIP(r),
	}}
	return r.WithContext(context.WithValue(r.Context(), auditKey{}, n)), n
}

// finishAudit writes the note after a successful call, unless it was
// written in the action's transaction or skipped. The action has happened:
// a failed write is logged, not answered as the action's failure.
func (s *Server) finishAudit(r *http.Request, n *auditNote) {
	if n == nil || n.written || n.skip {
		return
	}
	n.entry.At = s.Now()
	if err := s.Store.WriteAudit(context.WithoutCancel(r.Context()), &n.entry); err != nil {
		s.Logger.Error("audit entry not written", "action", n.entry.Action, "target", n.entry.Target, "err", err)
	}
}

// auditDetailOn sets e's detail: a small JSON object, never a secret.
func auditDetailOn(e *wxfleet.AuditEntry, detail map[string]any) {
	b, err := json.Marshal(detail)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	e.Detail = string(b)
}
