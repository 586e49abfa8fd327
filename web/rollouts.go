package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store"
)

// rolloutRoutes registers the template and rollout API.
func (s *Server) rolloutRoutes(mux *http.ServeMux) {
	s.api(mux, "GET /api/v1/templates/drafts", StaffRead(), s.listDrafts)
	s.api(mux, "GET /api/v1/templates", StaffRead(), s.listTemplates)
	s.api(mux, "POST /api/v1/templates", StaffWrite("template.create"), s.createTemplate)
	s.api(mux, "POST /api/v1/templates/sync", StaffWrite("template.sync"), s.syncTemplates)
	s.api(mux, "GET /api/v1/templates/{id}", StaffRead(), s.getTemplate)
	s.api(mux, "PUT /api/v1/templates/{id}", StaffWrite("template.update"), s.updateTemplate)
	s.api(mux, "PUT /api/v1/templates/{id}/policy", StaffWrite("template.policy"), s.putTemplatePolicy)
	s.api(mux, "DELETE /api/v1/templates/{id}", StaffWrite("template.delete"), s.deleteTemplate)
	s.api(mux, "GET /api/v1/templates/{id}/ext-json", StaffRead(), s.previewExtJSON)
	s.api(mux, "GET /api/v1/authorizers/{appid}/settings", StaffRead(), s.getAuthorizerSettings)
	s.api(mux, "PUT /api/v1/authorizers/{appid}/settings", StaffWrite("settings.update"), s.putAuthorizerSettings)
	s.api(mux, "PUT /api/v1/authorizers/{appid}/tags", StaffWrite("tags.update"), s.putAuthorizerTags)
	s.api(mux, "GET /api/v1/authorizers/{appid}/versions", StaffRead(), s.authorizerVersions)
	s.api(mux, "POST /api/v1/rollouts", StaffWrite("rollout.create"), s.createRollout)
	s.api(mux, "GET /api/v1/rollouts", StaffRead(), s.listRollouts)
	s.api(mux, "GET /api/v1/rollouts/{id}", StaffRead(), s.getRollout)
	s.api(mux, "GET /api/v1/rollouts/{id}/apps", StaffRead(), s.listRolloutApps)
	s.api(mux, "POST /api/v1/rollouts/{id}/{action}", StaffWrite("rollout.action"), s.rolloutAction)
	s.api(mux, "POST /api/v1/fleet-actions", StaffWrite("fleet_action.create"), s.createFleetAction)
	s.api(mux, "GET /api/v1/fleet-actions", StaffRead(), s.listFleetActions)
	s.api(mux, "GET /api/v1/fleet-actions/{id}", StaffRead(), s.getFleetAction)
	s.api(mux, "GET /api/v1/fleet-actions/{id}/apps", StaffRead(), s.listFleetActionApps)
	s.api(mux, "GET /api/v1/authorizers/{appid}/testers", StaffRead(), s.authorizerTesters)
	s.api(mux, "DELETE /api/v1/authorizers/{appid}/hold", StaffWrite("hold.release"), s.releaseHold)
}

// platformAndID resolves the request's platform and its {id}.
func (s *Server) platformAndID(r *http.Request) (string, int64, error) {
	comp, err := s.platform(r)
	if err != nil {
		return "", 0, err
	}
	id, err := pathID(r, "id")
	return comp, id, err
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "%s 须是正整数 / %s must be a positive integer", name, name)
	}
	return id, nil
}

type templateJSON struct {
	TemplateID   int64                   `json:"template_id"`
	DraftID      int64                   `json:"draft_id"`
	UserVersion  string                  `json:"user_version"`
	UserDesc     string                  `json:"user_desc"`
	TemplateType int                     `json:"template_type"`
	CreateTime   *time.Time              `json:"create_time"`
	ExtJSON      string                  `json:"ext_json"`
	Policy       *wxfleet.TemplatePolicy `json:"policy"`
	Notes        string                  `json:"notes"`
	SyncedAt     *time.Time              `json:"synced_at"`
	Deleted      bool                    `json:"deleted"`
}

func toTemplateJSON(t *wxfleet.Template) templateJSON {
	return templateJSON{TemplateID: t.TemplateID, DraftID: t.DraftID, UserVersion: t.UserVersion, UserDesc: t.UserDesc,
		TemplateType: t.TemplateType, CreateTime: timePtr(t.CreateTime), ExtJSON: t.ExtJSON, Policy: t.Policy, Notes: t.Notes,
		SyncedAt: timePtr(t.SyncedAt), Deleted: !t.DeletedAt.IsZero()}
}

func templatesJSON(ts []*wxfleet.Template) []templateJSON {
	out := make([]templateJSON, len(ts))
	for i, t := range ts {
		out[i] = toTemplateJSON(t)
	}
	return out
}

func (s *Server) listDrafts(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	drafts, err := s.Rollouts.Drafts(r.Context(), comp)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": nonNil(drafts)})
	return nil
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) error {
	return s.writeTemplates(w, r, s.Store.ListTemplates)
}

func (s *Server) syncTemplates(w http.ResponseWriter, r *http.Request) error {
	if comp, err := s.platform(r); err == nil {
		auditTarget(r, comp, "", "")
	}
	return s.writeTemplates(w, r, s.Rollouts.SyncTemplates)
}

// writeTemplates answers the platform's templates as list gives them.
func (s *Server) writeTemplates(w http.ResponseWriter, r *http.Request, list func(context.Context, string) ([]*wxfleet.Template, error)) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	ts, err := list(r.Context(), comp)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": templatesJSON(ts)})
	return nil
}

func (s *Server) createTemplate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		DraftID      int64  `json:"draft_id"`
		TemplateType int    `json:"template_type"`
		ExtJSON      string `json:"ext_json"`
		Notes        string `json:"notes"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	t, err := s.Rollouts.AddTemplate(r.Context(), comp, req.DraftID, req.TemplateType, req.ExtJSON, req.Notes)
	if err != nil {
		return err
	}
	auditTarget(r, comp, "", strconv.FormatInt(t.TemplateID, 10))
	auditDetail(r, map[string]any{"draft_id": req.DraftID, "template_type": req.TemplateType, "user_version": t.UserVersion})
	writeJSON(w, http.StatusCreated, toTemplateJSON(t))
	return nil
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	t, err := s.Store.Template(r.Context(), comp, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toTemplateJSON(t))
	return nil
}

func (s *Server) updateTemplate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExtJSON string `json:"ext_json"`
		Notes   string `json:"notes"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	if err := s.Rollouts.SetTemplateDetails(r.Context(), comp, id, req.ExtJSON, req.Notes); err != nil {
		return err
	}
	auditTarget(r, comp, "", strconv.FormatInt(id, 10))
	auditDetail(r, map[string]any{"ext_json_bytes": len(req.ExtJSON), "notes": truncate(req.Notes, 200)})
	return s.getTemplate(w, r)
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	if err := s.Rollouts.DeleteTemplate(r.Context(), comp, id); err != nil {
		return err
	}
	auditTarget(r, comp, "", strconv.FormatInt(id, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// previewExtJSON renders a template's ext_json for one authorizer
// (?appid=), exactly as a rollout would commit it.
func (s *Server) previewExtJSON(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	appID := r.URL.Query().Get("appid")
	if appID == "" {
		return wxfleet.Errorf(wxfleet.EINVALID, "缺少 appid 参数 / the appid parameter is required")
	}
	t, err := s.Store.Template(r.Context(), comp, id)
	if err != nil {
		return err
	}
	ext, err := s.renderExtJSONFor(r.Context(), comp, t, appID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"appid": appID, "ext_json": ext})
	return nil
}

// renderExtJSONFor renders t's ext_json with the settings of the platform's
// authorizer appID (previewExtJSON and the template page's preview).
func (s *Server) renderExtJSONFor(ctx context.Context, comp string, t *wxfleet.Template, appID string) (string, error) {
	if _, err := s.Store.Authorizer(ctx, comp, appID); err != nil {
		return "", err
	}
	settings, err := s.Store.AuthorizerSettings(ctx, comp, appID)
	if err != nil {
		return "", err
	}
	return rollout.RenderExtJSON(t.ExtJSON, appID, settings)
}

func (s *Server) getAuthorizerSettings(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	appID := r.PathValue("appid")
	if _, err := s.Store.Authorizer(r.Context(), comp, appID); err != nil {
		return err
	}
	settings, err := s.Store.AuthorizerSettings(r.Context(), comp, appID)
	if err != nil {
		return err
	}
	tags, err := s.Store.AuthorizerTags(r.Context(), comp, appID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"appid": appID, "settings": settings, "tags": nonNil(tags)})
	return nil
}

func (s *Server) putAuthorizerSettings(w http.ResponseWriter, r *http.Request) error {
	var settings map[string]any
	if err := decodeBody(r, &settings); err != nil {
		return err
	}
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	if err := s.Store.SetAuthorizerSettings(r.Context(), comp, r.PathValue("appid"), settings, s.Now()); err != nil {
		return err
	}
	// The keys that were set, not their values: settings may hold a merchant's own keys.
	auditTarget(r, comp, r.PathValue("appid"), "")
	auditDetail(r, map[string]any{"keys": sortedKeys(settings)})
	return s.getAuthorizerSettings(w, r)
}

func (s *Server) putAuthorizerTags(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Tags []string `json:"tags"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	if err := s.Store.SetAuthorizerTags(r.Context(), comp, r.PathValue("appid"), req.Tags); err != nil {
		return err
	}
	auditTarget(r, comp, r.PathValue("appid"), "")
	auditDetail(r, map[string]any{"tags": nonNil(req.Tags)})
	return s.getAuthorizerSettings(w, r)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type rolloutJSON struct {
	ID              int64                  `json:"id"`
	ComponentAppID  string                 `json:"component_appid"`
	TemplateID      int64                  `json:"template_id"`
	UserVersion     string                 `json:"user_version"`
	UserDesc        string                 `json:"user_desc"`
	Targets         wxfleet.RolloutTargets `json:"targets"`
	Release         string                 `json:"release"`
	GrayPercentage  int                    `json:"gray_percentage"`
	BatchSize       int                    `json:"batch_size"`
	MaxFailureRatio float64                `json:"max_failure_ratio"`
	Status          string                 `json:"status"`
	StatusReason    string                 `json:"status_reason,omitempty"`
	Cohort          int                    `json:"cohort"`
	Cohorts         int                    `json:"cohorts"`
	Counts          rollout.Counts         `json:"counts"`
	CreatedAt       time.Time              `json:"created_at"`
	UpdatedAt       time.Time              `json:"updated_at"`
}

func toRolloutJSON(st *rollout.Status) rolloutJSON {
	r := st.Rollout
	return rolloutJSON{ID: r.ID, ComponentAppID: r.ComponentAppID, TemplateID: r.TemplateID, UserVersion: r.UserVersion,
		UserDesc: r.UserDesc, Targets: r.Targets, Release: r.Release, GrayPercentage: r.GrayPercentage, BatchSize: r.BatchSize,
		MaxFailureRatio: r.MaxFailureRatio, Status: string(r.Status), StatusReason: r.StatusReason, Cohort: r.Cohort,
		Cohorts: st.Cohorts, Counts: st.Counts, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (s *Server) createRollout(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		rollout.CreateRequest
		DryRun bool `json:"dry_run"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	if req.DryRun {
		auditSkip(r) // a dry run changes nothing
		plan, err := s.Rollouts.DryRun(r.Context(), comp, req.CreateRequest)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, plan)
		return nil
	}
	ro, err := s.Rollouts.Create(r.Context(), comp, req.CreateRequest)
	if err != nil {
		return err
	}
	auditTarget(r, comp, "", strconv.FormatInt(ro.ID, 10))
	auditDetail(r, map[string]any{"template_id": ro.TemplateID, "user_version": ro.UserVersion, "targets": ro.Targets,
		"release": ro.Release, "batch_size": ro.BatchSize})
	st, err := s.Rollouts.Get(r.Context(), comp, ro.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toRolloutJSON(st))
	return nil
}

// rolloutFilter reads ?status=, ?template_id= and ?cursor= of a rollout
// list (the API's and the console's).
func rolloutFilter(r *http.Request) (store.RolloutFilter, error) {
	var f store.RolloutFilter
	var err error
	if f.Before, err = cursorParam(r); err != nil {
		return f, err
	}
	q := r.URL.Query()
	if v := q.Get("status"); v != "" {
		if f.Status = wxfleet.RolloutStatus(v); !f.Status.Valid() {
			return f, wxfleet.Errorf(wxfleet.EINVALID, "未知的发布状态 %q / unknown rollout status %q", v, v)
		}
	}
	if v := q.Get("template_id"); v != "" {
		if f.TemplateID, err = strconv.ParseInt(v, 10, 64); err != nil || f.TemplateID < 1 {
			return f, wxfleet.Errorf(wxfleet.EINVALID, "template_id 必须是正整数 / template_id must be a positive integer")
		}
	}
	return f, nil
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 50, 1000)
	if err != nil {
		return err
	}
	f, err := rolloutFilter(r)
	if err != nil {
		return err
	}
	f.Limit = n
	rs, err := s.Store.ListRollouts(r.Context(), comp, f)
	if err != nil {
		return err
	}
	items := make([]rolloutJSON, 0, len(rs))
	for _, ro := range rs {
		st, err := s.Rollouts.Get(r.Context(), comp, ro.ID)
		if err != nil {
			return err
		}
		items = append(items, toRolloutJSON(st))
	}
	next := ""
	if len(rs) == n {
		next = strconv.FormatInt(rs[len(rs)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	return nil
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	st, err := s.Rollouts.Get(r.Context(), comp, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRolloutJSON(st))
	return nil
}

type rolloutAppJSON struct {
	AppID       string    `json:"appid"`
	Cohort      int       `json:"cohort"`
	State       string    `json:"state"`
	AuditID     int64     `json:"audit_id,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	ScreenShot  string    `json:"screenshot,omitempty"`
	LastErrcode int       `json:"last_errcode,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Attempts    int       `json:"attempts"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func (s *Server) listRolloutApps(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	if _, err := s.Store.Rollout(r.Context(), comp, id); err != nil {
		return err
	}
	n, err := limit(r, 50, 1000)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.RolloutAppFilter{State: wxfleet.AppState(q.Get("state")), Cohort: -1, Limit: n, Cursor: q.Get("cursor")}
	if c := q.Get("cohort"); c != "" {
		if f.Cohort, err = strconv.Atoi(c); err != nil || f.Cohort < 0 {
			return wxfleet.Errorf(wxfleet.EINVALID, "cohort 须是非负整数 / cohort must be a non-negative integer")
		}
	}
	apps, err := s.Store.RolloutApps(r.Context(), comp, id, f)
	if err != nil {
		return err
	}
	items := make([]rolloutAppJSON, len(apps))
	for i, a := range apps {
		items[i] = rolloutAppJSON{AppID: a.AppID, Cohort: a.Cohort, State: string(a.State), AuditID: a.AuditID, Reason: a.Reason,
			ScreenShot: a.ScreenShot, LastErrcode: a.LastErrcode, LastError: a.LastError, Attempts: a.Attempts, UpdatedAt: a.UpdatedAt}
	}
	next := ""
	if len(apps) == n {
		next = apps[len(apps)-1].AppID
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	return nil
}

// rolloutAction is POST /api/v1/rollouts/{id}/pause|resume|cancel|retry-failed|release|rollback|undo-audit|speedup-audit,
// the last four optionally for some apps ({"appids":[...]} or {"cohort":N}).
func (s *Server) rolloutAction(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		rollout.Selection
		ToVersion string `json:"to_version"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	switch r.PathValue("action") {
	case "pause":
		err = s.Rollouts.Pause(ctx, comp, id)
	case "resume":
		err = s.Rollouts.Resume(ctx, comp, id)
	case "cancel":
		err = s.Rollouts.Cancel(ctx, comp, id)
	case "retry-failed":
		_, err = s.Rollouts.RetryFailed(ctx, comp, id)
	case "release":
		_, err = s.Rollouts.Release(ctx, comp, id, req.AppIDs)
	case "rollback":
		_, err = s.Rollouts.Rollback(ctx, comp, id, req.Selection, req.ToVersion)
	case "undo-audit":
		_, err = s.Rollouts.UndoAudit(ctx, comp, id, req.Selection)
	case "speedup-audit":
		_, err = s.Rollouts.SpeedupAudit(ctx, comp, id, req.Selection)
	default:
		return wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个操作 / no such action: %s (pause, resume, cancel, retry-failed, release, rollback, undo-audit, speedup-audit)", r.PathValue("action"))
	}
	if err != nil {
		return err
	}
	auditAction(r, "rollout."+r.PathValue("action"))
	auditTarget(r, comp, "", strconv.FormatInt(id, 10))
	detail := map[string]any{}
	if len(req.AppIDs) > 0 {
		detail["appids"] = req.AppIDs
	}
	if req.Cohort != nil {
		detail["cohort"] = *req.Cohort
	}
	if req.ToVersion != "" {
		detail["to_version"] = req.ToVersion
	}
	auditDetail(r, detail)
	return s.getRollout(w, r)
}

// sortedKeys are m's keys in order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// authorizerVersions is one mini program's version history: what each
// rollout did to it, newest first, with WeChat's current versions when asked
// (?wechat=1: getversioninfo and the release history, two calls).
func (s *Server) authorizerVersions(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	appID := r.PathValue("appid")
	if _, err := s.Store.Authorizer(r.Context(), comp, appID); err != nil {
		return err
	}
	n, err := limit(r, 50, 1000)
	if err != nil {
		return err
	}
	hist, err := s.Store.AppVersions(r.Context(), comp, appID, n)
	if err != nil {
		return err
	}
	type item struct {
		RolloutID   int64  `json:"rollout_id"`
		TemplateID  int64  `json:"template_id"`
		UserVersion string `json:"user_version"`
		UserDesc    string `json:"user_desc"`
		rolloutAppJSON
	}
	items := make([]item, len(hist))
	for i, h := range hist {
		a := h.App
		items[i] = item{RolloutID: h.RolloutID, TemplateID: h.TemplateID, UserVersion: h.UserVersion, UserDesc: h.UserDesc,
			rolloutAppJSON: rolloutAppJSON{AppID: a.AppID, Cohort: a.Cohort, State: string(a.State), AuditID: a.AuditID, Reason: a.Reason,
				ScreenShot: a.ScreenShot, LastErrcode: a.LastErrcode, LastError: a.LastError, Attempts: a.Attempts, UpdatedAt: a.UpdatedAt}}
	}
	out := map[string]any{"appid": appID, "items": items}
	if r.URL.Query().Get("wechat") == "1" {
		ts := s.Keeper.AuthorizerSource(comp, appID)
		v, err := s.WeChat.Versions(r.Context(), ts)
		if err != nil {
			return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "向微信查询版本失败 / asking WeChat for the versions failed", err)
		}
		h, err := s.WeChat.ReleaseHistory(r.Context(), ts)
		if err != nil {
			return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "向微信查询发布历史失败 / asking WeChat for the release history failed", err)
		}
		out["wechat"] = map[string]any{"versions": v, "history": nonNil(h)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
