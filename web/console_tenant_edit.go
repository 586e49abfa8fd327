package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/tenant"
)

// The tenant page's staff forms: what PATCH /api/v1/tenants/{id} changes
// (name, contact, tags, plan; the status on its own form), with the API's
// access (StaffWrite "tenant.update") and through the same tenant.Service
// call. Merchants never see the forms, and the routes refuse them.

// tenantEditForm saves the tenant's name, contact, tags and plan ("" or 0:
// none).
func (s *Server) tenantEditForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/tenants")
		return
	}
	auditTenant(r, id)
	back := fmt.Sprintf("/tenants/%d", id)
	name, contact := r.PostFormValue("name"), r.PostFormValue("contact")
	f := tenantForms{Which: "edit", Name: name, Contact: contact, Tags: r.PostFormValue("tags"), PlanID: strings.TrimSpace(r.PostFormValue("plan_id"))}
	tags := splitList(f.Tags)
	var plan int64
	if f.PlanID != "" {
		if plan, err = strconv.ParseInt(f.PlanID, 10, 64); err != nil || plan < 0 {
			s.refuseTenantForm(w, r, f, wxfleet.Errorf(wxfleet.EINVALID, "请选择一个套餐 / choose a plan"))
			return
		}
	}
	req := tenant.PatchRequest{Name: &name, Contact: &contact, Tags: &tags, PlanID: &plan}
	if _, err := s.tenants().Update(r.Context(), scopeOf(r), id, req); err != nil {
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, "/tenants")
			return
		}
		s.refuseTenantForm(w, r, f, err)
		return
	}
	http.Redirect(w, r, back+"?saved=1", http.StatusSeeOther)
}

// tenantStatusChanges are the status forms: suspending and closing stop a
// merchant's service, so they ask first; reactivating does not.
var tenantStatusChanges = map[wxfleet.TenantStatus]string{
	wxfleet.TenantSuspended: "暂停租户：商户的服务停止，直到恢复 / Suspend the tenant: the merchant's service stops until it is reactivated",
	wxfleet.TenantClosed:    "关闭租户：不再是客户，只保留记录 / Close the tenant: no longer a customer, only its history is kept",
	wxfleet.TenantActive:    "",
}

// tenantStatusForm changes the tenant's status. The status comes in the
// form, or in the query of the confirmation page's form (confirm.html posts
// only its own fields).
func (s *Server) tenantStatusForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/tenants")
		return
	}
	auditTenant(r, id)
	back := fmt.Sprintf("/tenants/%d", id)
	to := wxfleet.TenantStatus(r.FormValue("status"))
	what, ok := tenantStatusChanges[to]
	if !ok {
		s.errorPage(w, r, "出错了 Error", wxfleet.Errorf(wxfleet.EINVALID, "状态须是 active、suspended 或 closed / the status must be active, suspended or closed"), back)
		return
	}
	if what != "" && r.PostFormValue("confirm") != "yes" {
		// The tenant must be the actor's to be asked about.
		t, err := s.Store.Tenant(r.Context(), scopeOf(r), id)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/tenants")
			return
		}
		auditSkip(r) // asked, not done
		s.render(w, r, http.StatusOK, "confirm", map[string]any{
			"Title": "请确认 Please confirm", "What": what, "Back": back,
			"FormAction": fmt.Sprintf("/tenants/%d/status?status=%s", id, to),
			"Subject":    fmt.Sprintf("%s · 租户 tenant #%d", t.Name, id),
		})
		return
	}
	if _, err := s.tenants().Update(r.Context(), scopeOf(r), id, tenant.PatchRequest{Status: &to}); err != nil {
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, "/tenants")
			return
		}
		s.errorPage(w, r, "状态未改变 Status not changed", err, back)
		return
	}
	http.Redirect(w, r, back+"?saved=1", http.StatusSeeOther)
}
