package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/tenant"
)

// The plans page (/plans): the ISV's price list, which the API's
// /api/v1/plans routes manage. Staff read it; owners create and change
// plans (the same access and audit actions as the API), through the same
// tenant.Service calls, so a plan the console refuses the API refuses too.
func (s *Server) planPages(mux *http.ServeMux) {
	s.page(mux, "GET /plans", StaffRead(), s.plansPage)
	s.page(mux, "POST /plans", OwnerWrite("plan.create"), s.createPlanForm)
	s.page(mux, "POST /plans/{id}", OwnerWrite("plan.update"), s.editPlanForm)
}

// planForm is a plan form as the person typed it, kept when it is refused.
type planForm struct {
	Name, Price, MaxMiniPrograms, Features string
}

// planRow is one plan on the page with its edit form's values.
type planRow struct {
	*wxfleet.Plan
	Form planForm
	Err  string // the refusal of this plan's edit form
}

func planFormOf(p *wxfleet.Plan) planForm {
	return planForm{Name: p.Name, Price: yuanText(p.YearlyPrice), MaxMiniPrograms: strconv.Itoa(p.MaxMiniPrograms),
		Features: strings.Join(p.Features, ", ")}
}

func postedPlanForm(r *http.Request) planForm {
	return planForm{Name: r.PostFormValue("name"), Price: r.PostFormValue("yearly_price"),
		MaxMiniPrograms: r.PostFormValue("max_mini_programs"), Features: r.PostFormValue("features")}
}

// request reads the form into the API's request; only the units are read
// here (yuan into fen, a count), the service checks the values.
func (f planForm) request() (tenant.PlanRequest, error) {
	name := f.Name
	req := tenant.PlanRequest{Name: &name}
	// A free plan is allowed (0), so not parseYuan, which wants an amount to pay.
	m := yuanPattern.FindStringSubmatch(strings.TrimSpace(f.Price))
	if m == nil {
		return req, wxfleet.Errorf(wxfleet.EINVALID, "年费须以元为单位，最多两位小数，如 2999 或 0.5 / the yearly price is in yuan with at most two decimals, e.g. 2999 or 0.5")
	}
	whole, _ := strconv.ParseInt(m[1], 10, 64)
	frac, _ := strconv.ParseInt((m[2] + "00")[:2], 10, 64)
	fen := whole*100 + frac
	req.YearlyPrice = &fen
	n, err := strconv.Atoi(strings.TrimSpace(f.MaxMiniPrograms))
	if err != nil {
		return req, wxfleet.Errorf(wxfleet.EINVALID, "小程序上限须是整数（0 表示不限）/ the mini program cap must be a whole number (0: no cap)")
	}
	req.MaxMiniPrograms = &n
	features := splitList(f.Features)
	req.Features = &features
	return req, nil
}

// splitList reads a comma (or space) separated list as the tenants form does.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == '，' || c == ' ' })
}

func (s *Server) plansPage(w http.ResponseWriter, r *http.Request) {
	s.renderPlans(w, r, http.StatusOK, planForm{}, "", 0, planForm{}, "")
}

// renderPlans shows the plans; a refused form (the new one, or plan editID's)
// comes back with its input and the reason.
func (s *Server) renderPlans(w http.ResponseWriter, r *http.Request, status int, newForm planForm, newErr string, editID int64, edit planForm, editErr string) {
	list, err := s.Store.ListPlans(r.Context())
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	rows := make([]planRow, 0, len(list))
	for _, p := range list {
		row := planRow{Plan: p, Form: planFormOf(p)}
		if p.ID == editID {
			row.Form, row.Err = edit, editErr
		}
		rows = append(rows, row)
	}
	a, _ := wxfleet.ActorFrom(r.Context())
	s.render(w, r, status, "plans", map[string]any{
		"Title": "套餐 Plans", "Items": rows, "Owner": a.Role == wxfleet.RoleOwner, "New": newForm, "Err": newErr, "Path": "/plans",
	})
}

func (s *Server) createPlanForm(w http.ResponseWriter, r *http.Request) {
	f := postedPlanForm(r)
	req, err := f.request()
	if err == nil {
		var p *wxfleet.Plan
		if p, err = s.tenants().CreatePlan(r.Context(), scopeOf(r), req); err == nil {
			auditTarget(r, "", "", "plan:"+strconv.FormatInt(p.ID, 10))
			http.Redirect(w, r, fmt.Sprintf("/plans#plan-%d", p.ID), http.StatusSeeOther)
			return
		}
	}
	auditSkip(r) // refused: nothing to record
	s.renderPlans(w, r, statusOfErr(err), f, wxfleet.ErrorMessage(err), 0, planForm{}, "")
}

func (s *Server) editPlanForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/plans")
		return
	}
	auditTarget(r, "", "", "plan:"+strconv.FormatInt(id, 10))
	f := postedPlanForm(r)
	req, err := f.request()
	if err == nil {
		if _, err = s.tenants().UpdatePlan(r.Context(), scopeOf(r), id, req); err == nil {
			http.Redirect(w, r, fmt.Sprintf("/plans#plan-%d", id), http.StatusSeeOther)
			return
		}
	}
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		s.errorPage(w, r, "出错了 Error", err, "/plans")
		return
	}
	auditSkip(r)
	s.renderPlans(w, r, statusOfErr(err), planForm{}, "", id, f, wxfleet.ErrorMessage(err))
}
