package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
)

// The console's fleet actions (批量操作): what POST/GET /api/v1/fleet-actions
// do (web/fleet.go), as pages. The form takes the kind, its template or
// tester and the targets the rollout form's way (formTargets); "all" asks
// for confirmation first, saying how many apps it touches. An action's page
// follows its progress (htmx, every few seconds while it runs) and lists its
// apps by state, the failed ones with WeChat's errcode.

func (s *Server) fleetPages(mux *http.ServeMux) {
	s.page(mux, "GET /fleet-actions", StaffRead(), s.fleetActionsPage)
	s.page(mux, "GET /fleet-actions/new", StaffRead(), s.newFleetActionPage)
	s.page(mux, "POST /fleet-actions", StaffWrite("fleet_action.create"), s.createFleetActionForm)
	s.page(mux, "GET /fleet-actions/{id}", StaffRead(), s.fleetActionPage)
}

// fleetKinds are the kinds in words, "中文 English".
var fleetKinds = map[string]string{
	wxfleet.ActionSetup:        "应用模板的域名与隐私设置 Apply a template's domains and privacy settings",
	wxfleet.ActionBindTester:   "绑定体验者 Bind a tester",
	wxfleet.ActionUnbindTester: "解绑体验者 Unbind a tester",
}

func fleetKindText(lang, kind string) string {
	if w, ok := fleetKinds[kind]; ok {
		return bilingual(lang, w)
	}
	return kind
}

var fleetStatusTags = map[string][2]string{ // tone, label
	wxfleet.FleetRunning:    {"warn", "进行中 running"},
	wxfleet.FleetCompleted:  {"ok", "已完成 completed"},
	wxfleet.FleetAppPending: {"warn", "等待中 pending"},
	wxfleet.FleetAppDone:    {"ok", "已完成 done"},
	wxfleet.FleetAppFailed:  {"bad", "失败 failed"},
	wxfleet.FleetAppSkipped: {"", "已跳过 skipped"},
}

func fleetStatusTag(lang, st string) template.HTML {
	if l, ok := fleetStatusTags[st]; ok {
		return tag(l[0], bilingual(lang, l[1]))
	}
	return template.HTML(template.HTMLEscapeString(st))
}

// fleetTargetsText says what an action's targets are.
func fleetTargetsText(lang string, t wxfleet.RolloutTargets) string {
	switch {
	case t.All:
		return bilingual(lang, "全部已授权小程序 every authorized mini program")
	case len(t.Tags) > 0:
		return bilingual(lang, "标签 tags") + ": " + strings.Join(t.Tags, ", ")
	default:
		ids := t.AppIDs
		more := ""
		if len(ids) > 3 {
			ids, more = ids[:3], " …"
		}
		return fmt.Sprintf("%d %s: %s%s", len(t.AppIDs), bilingual(lang, "个小程序 mini programs"), strings.Join(ids, ", "), more)
	}
}

// fleetRow is an action as the list and its page show it.
type fleetRow struct {
	fleetActionJSON
	KindText, TargetsText string
	StatusTag             template.HTML
	Percent               int
}

func toFleetRow(lang string, st *rollout.FleetStatus) fleetRow {
	v := toFleetActionJSON(st)
	c := v.Counts
	pct := 100
	if c.Total > 0 {
		pct = (c.Total - c.Pending) * 100 / c.Total
	}
	return fleetRow{fleetActionJSON: v, KindText: fleetKindText(lang, v.Kind), TargetsText: fleetTargetsText(lang, v.Targets),
		StatusTag: fleetStatusTag(lang, v.Status), Percent: pct}
}

// fleetActionsPage lists the platform's fleet actions, newest first, a page
// at a time (?cursor= the last id shown).
func (s *Server) fleetActionsPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	n, err := limit(r, 50, 200)
	if err == nil {
		var before int64
		if before, err = cursorParam(r); err == nil {
			var as []*wxfleet.FleetAction
			if as, err = s.Store.ListFleetActions(r.Context(), comp, before, n); err == nil {
				lang := pageLang(r)
				items := make([]fleetRow, 0, len(as))
				for _, a := range as {
					st, err := s.Rollouts.GetFleetAction(r.Context(), comp, a.ID)
					if err != nil {
						s.errorPage(w, r, "出错了 Error", err, "/")
						return
					}
					items = append(items, toFleetRow(lang, st))
				}
				next := ""
				if len(as) == n {
					q := url.Values{"platform": {comp}, "cursor": {strconv.FormatInt(as[len(as)-1].ID, 10)}}
					if v := r.URL.Query().Get("limit"); v != "" {
						q.Set("limit", v)
					}
					next = "/fleet-actions?" + q.Encode()
				}
				s.render(w, r, http.StatusOK, "fleet_actions", map[string]any{
					"Title": "批量操作 Fleet actions", "Platform": comp, "Items": items, "Next": next, "Paged": before > 0,
				})
				return
			}
		}
	}
	s.errorPage(w, r, "出错了 Error", err, "/fleet-actions")
}

// fleetForm is a fleet action as the console's form holds it.
type fleetForm struct {
	Kind       string
	TemplateID string
	WeChatID   string
	UserStr    string
	Target     string // all, tags, appids
	Tags       string
	AppIDs     string
}

func readFleetForm(r *http.Request) fleetForm {
	f := fleetForm{Kind: r.FormValue("kind"), TemplateID: strings.TrimSpace(r.FormValue("template_id")),
		WeChatID: strings.TrimSpace(r.FormValue("wechatid")), UserStr: strings.TrimSpace(r.FormValue("userstr")),
		Target: r.FormValue("target"), Tags: r.FormValue("tags"), AppIDs: r.FormValue("appids")}
	if f.Kind == "" {
		f.Kind = wxfleet.ActionSetup
	}
	if f.Target == "" {
		f.Target = "appids"
	}
	return f
}

// query is the form as a query string (the confirmation page posts it back).
func (f fleetForm) query(comp string) url.Values {
	v := url.Values{"platform": {comp}, "kind": {f.Kind}, "target": {f.Target}}
	for k, x := range map[string]string{"template_id": f.TemplateID, "wechatid": f.WeChatID, "userstr": f.UserStr, "tags": f.Tags, "appids": f.AppIDs} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

// request turns the form into the service's request: the fields that are
// not the kind's are left out, and the service decides the rest.
func (f fleetForm) request() (rollout.FleetRequest, error) {
	req := rollout.FleetRequest{Kind: f.Kind}
	switch f.Kind {
	case wxfleet.ActionSetup:
		if f.TemplateID != "" {
			id, err := strconv.ParseInt(f.TemplateID, 10, 64)
			if err != nil || id <= 0 {
				return req, wxfleet.Errorf(wxfleet.EINVALID, "请选择模板 / choose a template")
			}
			req.TemplateID = id
		}
	case wxfleet.ActionBindTester:
		req.WeChatID = f.WeChatID
	case wxfleet.ActionUnbindTester:
		req.WeChatID, req.UserStr = f.WeChatID, f.UserStr
	}
	t, err := formTargets(f.Target, f.Tags, f.AppIDs)
	if err != nil {
		return req, err
	}
	if !t.All && len(t.Tags) == 0 && len(t.AppIDs) == 0 {
		if f.Target == "tags" {
			return req, wxfleet.Errorf(wxfleet.EINVALID, "请填写标签 / give at least one tag")
		}
		return req, wxfleet.Errorf(wxfleet.EINVALID, "请填写 appid / give at least one appid")
	}
	req.Targets = t
	return req, nil
}

// newFleetActionPage is the form; ?kind= and ?template_id= fill it in (the
// template page links here).
func (s *Server) newFleetActionPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/fleet-actions")
		return
	}
	s.fleetFormPage(w, r, comp, http.StatusOK, readFleetForm(r), nil)
}

// fleetFormPage renders the form with f, and err in words when there is one.
func (s *Server) fleetFormPage(w http.ResponseWriter, r *http.Request, comp string, status int, f fleetForm, err error) {
	templates, terr := s.Store.ListTemplates(r.Context(), comp)
	if terr != nil {
		s.errorPage(w, r, "出错了 Error", terr, "/fleet-actions")
		return
	}
	// A template id the list does not offer (deleted, or typed) stays chosen.
	other := f.TemplateID
	for _, t := range templates {
		if t.DeletedAt.IsZero() && strconv.FormatInt(t.TemplateID, 10) == f.TemplateID {
			other = ""
		}
	}
	data := map[string]any{"Title": "新建批量操作 New fleet action", "Platform": comp, "F": f, "Templates": templates, "OtherTemplate": other}
	if err != nil {
		auditSkip(r) // refused, nothing done
		data["Err"] = wxfleet.ErrorMessage(err)
	}
	s.render(w, r, status, "fleet_action_new", data)
}

// createFleetActionForm creates the action through the API's service call.
// Targets "all" without confirm=yes shows the confirmation page, with the
// number of authorized mini programs it would touch.
func (s *Server) createFleetActionForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/fleet-actions")
		return
	}
	f := readFleetForm(r)
	req, err := f.request()
	if err != nil {
		s.fleetFormPage(w, r, comp, http.StatusBadRequest, f, err)
		return
	}
	if req.Targets.All && r.PostFormValue("confirm") != "yes" {
		counts, err := s.Store.AuthorizerStatusCounts(r.Context(), comp)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/fleet-actions")
			return
		}
		n := counts[wxfleet.StatusAuthorized]
		auditSkip(r) // asked, not done
		s.render(w, r, http.StatusOK, "confirm", map[string]any{
			"Title": "请确认 Please confirm", "Platform": comp,
			"What": fmt.Sprintf("对全部已授权小程序执行：%s，将影响 %d 个小程序 / Run on every authorized mini program: %s, touching %d mini programs",
				fleetKindText(langZH, f.Kind), n, fleetKindText(langEN, f.Kind), n),
			"Subject":    fmt.Sprintf("%s · %d", fleetKindText(pageLang(r), f.Kind), n),
			"FormAction": "/fleet-actions?" + f.query(comp).Encode(),
			"Back":       "/fleet-actions/new?" + f.query(comp).Encode(),
		})
		return
	}
	a, err := s.Rollouts.CreateFleetAction(r.Context(), comp, req)
	if err != nil {
		status := statusOf[wxfleet.ErrorCode(err)]
		if status == 0 || status >= 500 {
			s.errorPage(w, r, "无法创建批量操作 Cannot create the fleet action", err, "/fleet-actions/new?"+f.query(comp).Encode())
			return
		}
		if status == http.StatusNotFound { // an unknown template: the input is wrong
			status = http.StatusBadRequest
		}
		s.fleetFormPage(w, r, comp, status, f, err)
		return
	}
	auditTarget(r, comp, "", strconv.FormatInt(a.ID, 10))
	auditDetail(r, map[string]any{"kind": a.Kind, "template_id": a.TemplateID, "targets": a.Targets})
	http.Redirect(w, r, fmt.Sprintf("/fleet-actions/%d?platform=%s&created=1", a.ID, url.QueryEscape(comp)), http.StatusSeeOther)
}

// fleetStateFilters are the app list's filters, failed first.
var fleetStateFilters = []struct{ State, Label string }{
	{wxfleet.FleetAppFailed, "失败 failed"}, {wxfleet.FleetAppPending, "等待中 pending"}, {wxfleet.FleetAppDone, "已完成 done"},
	{wxfleet.FleetAppSkipped, "已跳过 skipped"}, {"all", "全部 all"},
}

type fleetAppRow struct {
	*wxfleet.FleetActionApp
	StateTag template.HTML
}

type fleetFilterLink struct {
	Label, Href string
	On          bool
	N           int
}

// fleetActionPage shows one action: its counts and progress (read again
// every few seconds while it runs), and its apps of one state, a page at a
// time (?state=, ?cursor= the last appid shown). Without ?state= the failed
// apps are shown when there are any.
func (s *Server) fleetActionPage(w http.ResponseWriter, r *http.Request) {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/fleet-actions")
		return
	}
	st, err := s.Rollouts.GetFleetAction(r.Context(), comp, id)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/fleet-actions")
		return
	}
	n, err := limit(r, 50, 200)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, fmt.Sprintf("/fleet-actions/%d?platform=%s", id, url.QueryEscape(comp)))
		return
	}
	lang := pageLang(r)
	v := toFleetRow(lang, st)
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "all"
		if v.Counts.Failed > 0 {
			state = wxfleet.FleetAppFailed
		}
	}
	known := false
	counts := map[string]int{wxfleet.FleetAppFailed: v.Counts.Failed, wxfleet.FleetAppPending: v.Counts.Pending,
		wxfleet.FleetAppDone: v.Counts.Done, wxfleet.FleetAppSkipped: v.Counts.Skipped, "all": v.Counts.Total}
	base := fmt.Sprintf("/fleet-actions/%d?", id)
	var filters []fleetFilterLink
	for _, fl := range fleetStateFilters {
		fq := url.Values{"platform": {comp}, "state": {fl.State}}
		filters = append(filters, fleetFilterLink{Label: bilingual(lang, fl.Label), Href: base + fq.Encode(), On: fl.State == state, N: counts[fl.State]})
		known = known || fl.State == state
	}
	if !known {
		s.errorPage(w, r, "出错了 Error", wxfleet.Errorf(wxfleet.EINVALID, "state 须是 failed、pending、done、skipped 或 all / state must be failed, pending, done, skipped or all"),
			base+"platform="+url.QueryEscape(comp))
		return
	}
	storeState := state
	if state == "all" {
		storeState = ""
	}
	cursor := q.Get("cursor")
	apps, err := s.Store.FleetActionApps(r.Context(), comp, id, storeState, cursor, n)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/fleet-actions")
		return
	}
	rows := make([]fleetAppRow, len(apps))
	for i, a := range apps {
		rows[i] = fleetAppRow{a, fleetStatusTag(lang, a.State)}
	}
	next := ""
	if len(apps) == n {
		nq := url.Values{"platform": {comp}, "state": {state}, "cursor": {apps[len(apps)-1].AppID}}
		if l := q.Get("limit"); l != "" {
			nq.Set("limit", l)
		}
		next = base + nq.Encode()
	}
	// The page polls itself, as it is (state, cursor), while the action runs.
	self := url.Values{"platform": {comp}, "state": {state}}
	if cursor != "" {
		self.Set("cursor", cursor)
	}
	if l := q.Get("limit"); l != "" {
		self.Set("limit", l)
	}
	var tmpl *wxfleet.Template
	if v.TemplateID != 0 {
		tmpl, _ = s.Store.Template(r.Context(), comp, v.TemplateID) // for its version; gone is fine
	}
	s.render(w, r, http.StatusOK, "fleet_action", map[string]any{
		"Title": fmt.Sprintf("批量操作 Fleet action #%d", id), "Platform": comp, "A": v, "Template": tmpl,
		"Running": v.Status == wxfleet.FleetRunning, "Apps": rows, "Filters": filters, "State": state, "Next": next,
		"Self": base + self.Encode(), "Created": q.Get("created") != "",
	})
}
