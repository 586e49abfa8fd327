package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
)

// The console's template and rollout actions: everything the API does with
// templates and rollouts, as forms. A rollout is previewed (the dry run)
// before it is started; cancel, rollback and undoing audits ask for
// confirmation first.

// templatesPage lists the platform's templates, and makes one from a draft.
func (s *Server) templatesPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	list, err := s.Store.ListTemplates(r.Context(), comp)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	// WeChat's template library holds about a hundred (docs/wechat-code.md):
	// one page, filtered here. Templates deleted on WeChat's side are not
	// listed (their rollouts still link to their pages).
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	items := make([]templateJSON, 0, len(list))
	hidden := 0
	for _, t := range list {
		j := toTemplateJSON(t)
		if !templateMatches(j, q) {
			hidden++
			continue
		}
		items = append(items, j)
	}
	s.render(w, r, http.StatusOK, "templates", map[string]any{
		"Title": "代码模板 Templates", "Platform": comp, "Items": items, "Added": r.URL.Query().Get("added"),
		"Q": q, "Hidden": hidden, "Total": len(list),
	})
}

// templateDrafts is the templates page's draft list (htmx; one WeChat call).
func (s *Server) templateDrafts(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/templates")
		return
	}
	drafts, err := s.Rollouts.Drafts(r.Context(), comp)
	data := map[string]any{"Platform": comp, "Drafts": drafts}
	if err != nil {
		data["Err"] = wxfleet.ErrorMessage(err)
	}
	s.render(w, r, http.StatusOK, "template_drafts", data)
}

// addTemplateForm makes a template from a draft (POST /templates).
func (s *Server) addTemplateForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/templates")
		return
	}
	draftID, _ := strconv.ParseInt(r.PostFormValue("draft_id"), 10, 64)
	t, err := s.Rollouts.AddTemplate(r.Context(), comp, draftID, 0, r.PostFormValue("ext_json"), r.PostFormValue("notes"))
	if err != nil {
		s.errorPage(w, r, "无法创建模板 Cannot make the template", err, "/templates?platform="+url.QueryEscape(comp))
		return
	}
	auditTarget(r, comp, "", strconv.FormatInt(t.TemplateID, 10))
	auditDetail(r, map[string]any{"draft_id": draftID, "user_version": t.UserVersion})
	http.Redirect(w, r, fmt.Sprintf("/templates?platform=%s&added=%d", url.QueryEscape(comp), t.TemplateID), http.StatusSeeOther)
}

// syncTemplatesForm reads the template library from WeChat again.
func (s *Server) syncTemplatesForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/templates")
		return
	}
	if _, err := s.Rollouts.SyncTemplates(r.Context(), comp); err != nil {
		s.errorPage(w, r, "同步失败 Sync failed", err, "/templates?platform="+url.QueryEscape(comp))
		return
	}
	auditTarget(r, comp, "", "")
	http.Redirect(w, r, "/templates?platform="+url.QueryEscape(comp), http.StatusSeeOther)
}

// rolloutForm is a rollout as the console's form holds it.
type rolloutForm struct {
	TemplateID      string
	Target          string // all, tags, appids
	Tags            string // comma or space separated
	AppIDs          string // one per line (or separated by commas / spaces)
	Release         string
	GrayPercentage  string
	BatchSize       string
	MaxFailureRatio string
	UserDesc        string
}

func readRolloutForm(r *http.Request) rolloutForm {
	f := rolloutForm{
		TemplateID: r.FormValue("template_id"), Target: r.FormValue("target"), Tags: r.FormValue("tags"),
		AppIDs: r.FormValue("appids"), Release: r.FormValue("release"), GrayPercentage: r.FormValue("gray_percentage"),
		BatchSize: r.FormValue("batch_size"), MaxFailureRatio: r.FormValue("max_failure_ratio"), UserDesc: r.FormValue("user_desc"),
	}
	if f.Target == "" {
		f.Target = "all"
	}
	if f.Release == "" {
		f.Release = "auto"
	}
	return f
}

// request turns the form into the service's request; a field that is not a
// number is an error naming it.
func (f rolloutForm) request() (rollout.CreateRequest, error) {
	var req rollout.CreateRequest
	num := func(name, v string, out *int) error {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return wxfleet.Errorf(wxfleet.EINVALID, "%s 须是整数 / %s must be a whole number", name, name)
		}
		*out = n
		return nil
	}
	id, err := strconv.ParseInt(strings.TrimSpace(f.TemplateID), 10, 64)
	if err != nil || id <= 0 {
		return req, wxfleet.Errorf(wxfleet.EINVALID, "请选择模板 / choose a template")
	}
	req.TemplateID, req.Release, req.UserDesc = id, f.Release, strings.TrimSpace(f.UserDesc)
	if req.Targets, err = formTargets(f.Target, f.Tags, f.AppIDs); err != nil {
		return req, err
	}
	if err := num("gray_percentage", f.GrayPercentage, &req.GrayPercentage); err != nil {
		return req, err
	}
	if err := num("batch_size", f.BatchSize, &req.BatchSize); err != nil {
		return req, err
	}
	if v := strings.TrimSpace(f.MaxFailureRatio); v != "" {
		ratio, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return req, wxfleet.Errorf(wxfleet.EINVALID, "max_failure_ratio 须是 0 到 1 之间的数 / max_failure_ratio must be a number from 0 to 1")
		}
		req.MaxFailureRatio = &ratio
	}
	return req, nil
}

// formTargets reads a console form's targets (the rollout and fleet action
// forms): target is all, tags or appids; tags and appids are separated by
// commas, spaces or lines.
func formTargets(target, tags, appids string) (wxfleet.RolloutTargets, error) {
	var t wxfleet.RolloutTargets
	switch target {
	case "all":
		t.All = true
	case "tags":
		t.Tags = formWords(tags)
	case "appids":
		t.AppIDs = formWords(appids)
	default:
		return t, wxfleet.Errorf(wxfleet.EINVALID, "未知的发布范围 / unknown target %q", target)
	}
	return t, nil
}

// formWords splits a form's list of tags or appids at commas (either
// width), spaces and line breaks.
func formWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// newRolloutPage is the form that starts a rollout; with ?preview=1 (the
// form's first submit) it shows the dry run under it and a button that
// starts exactly what was previewed.
func (s *Server) newRolloutPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/rollouts")
		return
	}
	templates, err := s.Store.ListTemplates(r.Context(), comp)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/rollouts")
		return
	}
	f := readRolloutForm(r)
	data := map[string]any{"Title": "新建发布 New rollout", "Platform": comp, "F": f, "Templates": templates}
	if r.URL.Query().Get("preview") != "" {
		req, err := f.request()
		if err == nil {
			var plan *rollout.Plan
			if plan, err = s.Rollouts.DryRun(r.Context(), comp, req); err == nil {
				data["Plan"] = plan
			}
		}
		if err != nil {
			data["Err"] = wxfleet.ErrorMessage(err)
		}
	}
	s.render(w, r, http.StatusOK, "rollout_new", data)
}

// createRolloutForm starts the previewed rollout.
func (s *Server) createRolloutForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/rollouts")
		return
	}
	req, err := readRolloutForm(r).request()
	if err != nil {
		s.errorPage(w, r, "无法开始发布 Cannot start the rollout", err, "/rollouts/new?platform="+url.QueryEscape(comp))
		return
	}
	ro, err := s.Rollouts.Create(r.Context(), comp, req)
	if err != nil {
		s.errorPage(w, r, "无法开始发布 Cannot start the rollout", err, "/rollouts/new?platform="+url.QueryEscape(comp))
		return
	}
	auditTarget(r, comp, "", strconv.FormatInt(ro.ID, 10))
	auditDetail(r, map[string]any{"template_id": ro.TemplateID, "user_version": ro.UserVersion, "targets": ro.Targets,
		"release": ro.Release, "batch_size": ro.BatchSize})
	http.Redirect(w, r, fmt.Sprintf("/rollouts/%d?platform=%s", ro.ID, url.QueryEscape(comp)), http.StatusSeeOther)
}

// destructive actions ask before they act.
var destructive = map[string]string{
	"cancel":     "取消发布：未完成的小程序不再继续 / Cancel: the apps not yet done go no further",
	"rollback":   "回滚：已发布的小程序退回上一个（或所选）线上版本 / Roll back: released apps return to the previous (or chosen) version",
	"undo-audit": "撤回审核：审核中的小程序撤回提交（每月次数有限）/ Undo audit: withdraw the submissions under review (limited per month)",
}

// rolloutActionForm runs a rollout action from the rollout page. A
// destructive one without confirm=yes shows the confirmation page instead.
func (s *Server) rolloutActionForm(w http.ResponseWriter, r *http.Request) {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/rollouts")
		return
	}
	back := fmt.Sprintf("/rollouts/%d?platform=%s", id, url.QueryEscape(comp))
	action := r.PathValue("action")
	if what, ok := destructive[action]; ok && r.PostFormValue("confirm") != "yes" {
		auditSkip(r) // asked, not done
		s.render(w, r, http.StatusOK, "confirm", map[string]any{
			"Title": "请确认 Please confirm", "What": what, "Action": action, "ID": id, "Platform": comp, "Back": back,
			"ToVersion": r.PostFormValue("to_version"),
		})
		return
	}
	ctx := r.Context()
	sel := rollout.Selection{}
	switch action {
	case "pause":
		err = s.Rollouts.Pause(ctx, comp, id)
	case "resume":
		err = s.Rollouts.Resume(ctx, comp, id)
	case "cancel":
		err = s.Rollouts.Cancel(ctx, comp, id)
	case "retry-failed":
		_, err = s.Rollouts.RetryFailed(ctx, comp, id)
	case "release":
		_, err = s.Rollouts.Release(ctx, comp, id, nil)
	case "rollback":
		_, err = s.Rollouts.Rollback(ctx, comp, id, sel, strings.TrimSpace(r.PostFormValue("to_version")))
	case "undo-audit":
		_, err = s.Rollouts.UndoAudit(ctx, comp, id, sel)
	case "speedup-audit":
		_, err = s.Rollouts.SpeedupAudit(ctx, comp, id, sel)
	default:
		err = wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个操作 / no such action: %s", action)
	}
	if err != nil {
		s.errorPage(w, r, "操作失败 The action failed", err, back)
		return
	}
	auditAction(r, "rollout."+action)
	auditTarget(r, comp, "", strconv.FormatInt(id, 10))
	if v := strings.TrimSpace(r.PostFormValue("to_version")); v != "" {
		auditDetail(r, map[string]any{"to_version": v})
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// templateMatches says whether the template's id, version, description or
// notes hold q (any case); an empty q matches every template.
func templateMatches(t templateJSON, q string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	for _, f := range []string{strconv.FormatInt(t.TemplateID, 10), t.UserVersion, t.UserDesc, t.Notes} {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}
