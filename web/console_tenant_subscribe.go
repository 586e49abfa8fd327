package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/tenant"
)

// The tenant page's subscription form: what POST
// /api/v1/tenants/{id}/subscription sets (a plan, a start, an end date or a
// number of years), with the API's access (StaffWrite "subscription.create")
// and through the same tenant.Service call. Replacing a running term with a
// shorter one, or with another plan, asks first.

// termForm is the subscription form as the person typed it.
type termForm struct {
	PlanID                     int64
	StartsAt, ExpiresAt, Years string
}

func postedTermForm(r *http.Request) termForm {
	// FormValue: the confirmation page posts the fields in its query.
	f := termForm{StartsAt: strings.TrimSpace(r.FormValue("starts_at")), ExpiresAt: strings.TrimSpace(r.FormValue("expires_at")),
		Years: strings.TrimSpace(r.FormValue("years"))}
	f.PlanID, _ = strconv.ParseInt(strings.TrimSpace(r.FormValue("plan_id")), 10, 64)
	return f
}

// formDate is a date input's day (yyyy-mm-dd), at its start in the
// console's time zone (the page shows dates in it).
const formDate = "2006-01-02"

// request reads the form into the API's request; only the units are read
// here, the service checks the values.
func (f termForm) request() (tenant.SubscribeRequest, error) {
	req := tenant.SubscribeRequest{PlanID: f.PlanID}
	if f.PlanID <= 0 {
		return req, wxfleet.Errorf(wxfleet.EINVALID, "请选择一个套餐 / choose a plan")
	}
	if f.ExpiresAt != "" && f.Years != "" {
		return req, wxfleet.Errorf(wxfleet.EINVALID, "到期日期与年数只填一个 / give an end date or years, not both")
	}
	if f.StartsAt != "" {
		t, err := time.ParseInLocation(formDate, f.StartsAt, time.Local)
		if err != nil {
			return req, wxfleet.Errorf(wxfleet.EINVALID, "开始日期须是 年-月-日 / the start date must be a date like 2026-01-31")
		}
		req.StartsAt = &t
	}
	if f.ExpiresAt != "" {
		t, err := time.ParseInLocation(formDate, f.ExpiresAt, time.Local)
		if err != nil {
			return req, wxfleet.Errorf(wxfleet.EINVALID, "到期日期须是 年-月-日 / the end date must be a date like 2027-01-31")
		}
		req.ExpiresAt = &t
	}
	if f.Years != "" {
		n, err := strconv.Atoi(f.Years)
		if err != nil {
			return req, wxfleet.Errorf(wxfleet.EINVALID, "年数须是 1 到 10 的整数 / years must be a whole number from 1 to 10")
		}
		req.Years = n
	}
	return req, nil
}

// query is the form in a URL query, for the confirmation page's form.
func (f termForm) query() string {
	v := url.Values{"plan_id": {strconv.FormatInt(f.PlanID, 10)}}
	for k, x := range map[string]string{"starts_at": f.StartsAt, "expires_at": f.ExpiresAt, "years": f.Years} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v.Encode()
}

// subscriptionForm sets the tenant's subscription.
func (s *Server) subscriptionForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/tenants")
		return
	}
	auditTenant(r, id)
	ctx, sc := r.Context(), scopeOf(r)
	back := fmt.Sprintf("/tenants/%d", id)
	f := postedTermForm(r)
	// The tenant must be the actor's before anything about it is said.
	t, err := s.Store.Tenant(ctx, sc, id)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/tenants")
		return
	}
	refuse := func(err error) { // the page again, with the input and the reason
		s.refuseTenantForm(w, r, tenantForms{Which: "subscription", Sub: &f}, err)
	}
	req, err := f.request()
	if err != nil {
		refuse(err)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		now := s.Now()
		next, err := s.tenants().Term(ctx, id, req, now)
		if err != nil {
			refuse(err)
			return
		}
		cur, err := s.Store.Subscription(ctx, sc, id)
		if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, back)
			return
		}
		if what := replacesTerm(cur, next, now); what != "" {
			auditSkip(r) // asked, not done
			s.render(w, r, http.StatusOK, "confirm", map[string]any{
				"Title": "请确认 Please confirm", "What": what, "Back": back,
				"FormAction": back + "/subscription?" + f.query(),
				"Subject": fmt.Sprintf("%s · 租户 tenant #%d · %s %s → %s %s", t.Name, id,
					s.planName(r, cur.PlanID), cur.ExpiresAt.Local().Format(formDate), s.planName(r, next.PlanID), next.ExpiresAt.Local().Format(formDate)),
			})
			return
		}
	}
	if _, err := s.tenants().Subscribe(ctx, sc, id, req); err != nil {
		refuse(err)
		return
	}
	http.Redirect(w, r, back+"?subscribed=1", http.StatusSeeOther)
}

// replacesTerm says what setting next would lose of the running term cur,
// "" when nothing: no term, one that ended, or the same plan for as long or
// longer.
func replacesTerm(cur, next *wxfleet.Subscription, now time.Time) string {
	if cur == nil || cur.Expired(now) {
		return ""
	}
	shorter, plan := next.ExpiresAt.Before(cur.ExpiresAt), next.PlanID != cur.PlanID
	switch {
	case shorter && plan:
		return "替换当前订阅：换成另一个套餐，且提前到期 / Replace the running subscription: another plan, and it ends sooner"
	case shorter:
		return "替换当前订阅：提前到期 / Replace the running subscription: it ends sooner"
	case plan:
		return "替换当前订阅：换成另一个套餐 / Replace the running subscription with another plan"
	}
	return ""
}

// planName is plan id's name, or its number when it cannot be read.
func (s *Server) planName(r *http.Request, id int64) string {
	if p, err := s.Store.Plan(r.Context(), id); err == nil {
		return p.Name
	}
	return fmt.Sprintf("#%d", id)
}
