package rollout

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wechat"
)

// Fleet actions apply one setting change to many mini programs the way a
// rollout ships code: every app a River job keyed to (action, app), its
// calls paced with the rollouts' budget, its progress stored per app. The
// kinds: a template's policy (domains, web-view domains, privacy guide) and
// experience members (bind_tester / unbind_tester).

// FleetRequest is the body of POST /api/v1/fleet-actions.
type FleetRequest struct {
	Kind       string                 `json:"kind"`
	TemplateID int64                  `json:"template_id"` // setup: 0 → the newest template declaring a policy
	WeChatID   string                 `json:"wechatid"`    // bind_tester, unbind_tester
	UserStr    string                 `json:"userstr"`     // unbind_tester instead of wechatid
	Targets    wxfleet.RolloutTargets `json:"targets"`
}

// FleetCounts are a fleet action's apps by state.
type FleetCounts struct {
	Total   int `json:"total"`
	Pending int `json:"pending"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// FleetStatus is a fleet action with its counts.
type FleetStatus struct {
	*wxfleet.FleetAction
	Counts FleetCounts
}

// CreateFleetAction stores the action with every target app and enqueues
// one job per app that can take part, in one transaction.
func (s *Service) CreateFleetAction(ctx context.Context, componentAppID string, req FleetRequest) (*wxfleet.FleetAction, error) {
	if err := checkTargets(req.Targets); err != nil {
		return nil, err
	}
	a := &wxfleet.FleetAction{ComponentAppID: componentAppID, Kind: req.Kind, Targets: req.Targets, Status: wxfleet.FleetRunning}
	switch req.Kind {
	case wxfleet.ActionSetup:
		var t *wxfleet.Template
		var err error
		if req.TemplateID == 0 {
			t, err = s.Store.PolicyTemplate(ctx, componentAppID)
		} else {
			t, err = s.Store.Template(ctx, componentAppID, req.TemplateID)
		}
		if err != nil {
			return nil, err
		}
		if t.Policy.Empty() {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "模板 %d 没有声明域名或隐私策略 / template %d declares no domain or privacy policy", t.TemplateID, t.TemplateID)
		}
		a.TemplateID = t.TemplateID
	case wxfleet.ActionBindTester, wxfleet.ActionUnbindTester:
		a.WeChatID, a.UserStr = strings.TrimSpace(req.WeChatID), strings.TrimSpace(req.UserStr)
		if a.WeChatID == "" && (req.Kind == wxfleet.ActionBindTester || a.UserStr == "") {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "缺少 wechatid（解绑也可用 userstr）/ wechatid is required (unbind_tester also takes userstr)")
		}
	default:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, `kind 只能是 "setup"、"bind_tester" 或 "unbind_tester" / kind must be "setup", "bind_tester" or "unbind_tester"`)
	}
	ids, err := s.Store.TargetAppIDs(ctx, componentAppID, req.Targets)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "targets 没有选中任何小程序 / targets select no mini program")
	}
	skipped := map[string]string{}
	var run []string
	for _, id := range ids {
		if why := s.authorizedReason(ctx, componentAppID, id); why != "" {
			skipped[id] = why
		} else {
			run = append(run, id)
		}
	}
	a.CreatedAt, a.UpdatedAt = s.Now(), s.Now()
	err = s.Store.CreateFleetAction(ctx, a, ids, skipped, func(ctx context.Context, tx *sql.Tx) error {
		if len(run) == 0 {
			return nil
		}
		params := make([]river.InsertManyParams, len(run))
		for i, id := range run {
			params[i] = river.InsertManyParams{Args: FleetArgs{ComponentAppID: componentAppID, ActionID: a.ID, AppID: id, Action: a.Kind}}
		}
		return s.Jobs().InsertManyTx(ctx, tx, params)
	})
	if err != nil {
		return nil, err
	}
	s.Logger.Info("fleet action created", "component_appid", componentAppID, "action", a.ID, "kind", a.Kind,
		"apps", len(ids), "skipped", len(skipped))
	if len(run) == 0 {
		if _, err := s.Store.CompleteFleetAction(ctx, componentAppID, a.ID, s.Now()); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// authorizedReason says why an app cannot take a settings call ("" when
// it can): not authorized, or without the code-management permission set.
func (s *Service) authorizedReason(ctx context.Context, componentAppID, appID string) string {
	a, err := s.Store.Authorizer(ctx, componentAppID, appID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return "未授权给本平台 / not authorized to this platform"
	}
	if err != nil {
		return "读取授权方失败 / cannot read the authorizer: " + wxfleet.ErrorMessage(err)
	}
	if a.Status != wxfleet.StatusAuthorized {
		return "授权状态为 " + string(a.Status) + " / authorization status is " + string(a.Status)
	}
	if len(a.Permissions) > 0 && !slices.Contains(a.Permissions, permCodeManagement) {
		return "未授予权限集 18（小程序开发管理）/ permission set 18 (code management) not granted"
	}
	return ""
}

// GetFleetAction returns a fleet action and its counts.
func (s *Service) GetFleetAction(ctx context.Context, componentAppID string, id int64) (*FleetStatus, error) {
	a, err := s.Store.FleetAction(ctx, componentAppID, id)
	if err != nil {
		return nil, err
	}
	m, err := s.Store.FleetActionCounts(ctx, componentAppID, id)
	if err != nil {
		return nil, err
	}
	c := FleetCounts{Pending: m[wxfleet.FleetAppPending], Done: m[wxfleet.FleetAppDone], Failed: m[wxfleet.FleetAppFailed],
		Skipped: m[wxfleet.FleetAppSkipped]}
	c.Total = c.Pending + c.Done + c.Failed + c.Skipped
	return &FleetStatus{FleetAction: a, Counts: c}, nil
}

// FleetArgs is one app's part of a fleet action.
type FleetArgs struct {
	ComponentAppID string `json:"component_appid"`
	ActionID       int64  `json:"action_id"`
	AppID          string `json:"appid"`
	Action         string `json:"kind"`
}

// Kind implements river.JobArgs.
func (FleetArgs) Kind() string { return "fleet_action_step" }

// FleetTag is the River tag of every job of one fleet action.
func FleetTag(id int64) string { return "fleet_action_" + strconv.FormatInt(id, 10) }

// InsertOpts keeps one waiting job per (action, app) on the rollout queue.
func (a FleetArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       Queue,
		MaxAttempts: maxStepAttempts,
		Priority:    stepPriority,
		Tags:        []string{"app_" + a.AppID, FleetTag(a.ActionID)},
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: unfinished},
	}
}

// FleetWorker works FleetArgs.
type FleetWorker struct {
	river.WorkerDefaults[FleetArgs]
	Service *Service
}

// Timeout bounds one app's settings calls.
func (w *FleetWorker) Timeout(*river.Job[FleetArgs]) time.Duration { return 2 * time.Minute }

// NextRetry backs off as a rollout step does.
func (w *FleetWorker) NextRetry(job *river.Job[FleetArgs]) time.Time {
	d := w.Service.retryBase() << min(job.Attempt-1, 6)
	return time.Now().Add(min(d, 5*time.Minute))
}

// Work applies the action to one app unless it is done already.
func (w *FleetWorker) Work(ctx context.Context, job *river.Job[FleetArgs]) error {
	s, args := w.Service, job.Args
	a, err := s.Store.FleetAction(ctx, args.ComponentAppID, args.ActionID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	app, err := s.Store.FleetActionApp(ctx, args.ComponentAppID, args.ActionID, args.AppID)
	if err != nil {
		return err
	}
	if app.State != wxfleet.FleetAppPending {
		return nil
	}
	if why := s.authorizedReason(ctx, a.ComponentAppID, app.AppID); why != "" {
		app.State, app.Result = wxfleet.FleetAppSkipped, why
		return s.finishFleetApp(ctx, a, app)
	}
	ts := s.Tokens.AuthorizerSource(a.ComponentAppID, app.AppID)
	var result string
	switch a.Kind {
	case wxfleet.ActionSetup:
		var t *wxfleet.Template
		if t, err = s.Store.Template(ctx, a.ComponentAppID, a.TemplateID); err == nil {
			var set []string
			set, err = s.applyPolicy(ctx, ts, t.Policy, s.pace)
			result = "已一致，未修改 / already matching, nothing set"
			if len(set) > 0 {
				result = "已设置 / set: " + strings.Join(set, ", ")
			}
		}
	case wxfleet.ActionBindTester:
		if err = s.pace(ctx, "/wxa/bind_tester"); err == nil {
			var userstr string
			userstr, err = s.WeChat.BindTester(ctx, ts, a.WeChatID)
			result = "已绑定 / bound: userstr " + userstr
			var we *wechat.Error
			if errors.As(err, &we) && we.Code == wechat.CodeTesterBound {
				err, result = nil, "已是体验者 / already a tester"
			}
		}
	case wxfleet.ActionUnbindTester:
		if err = s.pace(ctx, "/wxa/unbind_tester"); err == nil {
			err = s.WeChat.UnbindTester(ctx, ts, a.WeChatID, a.UserStr)
			result = "已解绑 / unbound"
		}
	default:
		return river.JobCancel(errors.New("unknown fleet action kind " + a.Kind))
	}
	if isSnooze(err) {
		return err
	}
	if err != nil {
		code, transient := classify(err)
		app.LastErrcode, app.LastError = code, err.Error()
		app.Attempts++
		app.UpdatedAt = s.Now()
		if transient && job.Attempt < job.MaxAttempts {
			if _, werr := s.Store.UpdateFleetActionApp(ctx, a.ComponentAppID, app, wxfleet.FleetAppPending); werr != nil {
				return werr
			}
			s.observe("fleet_"+a.Kind, "retry")
			if code == 45009 {
				return river.JobSnooze(s.quotaWait())
			}
			return err
		}
		s.Logger.Warn("fleet action failed for an app", "component_appid", a.ComponentAppID, "action", a.ID, "kind", a.Kind,
			"appid", app.AppID, "errcode", code, "err", err)
		app.State = wxfleet.FleetAppFailed
		return s.finishFleetApp(ctx, a, app)
	}
	app.State, app.Result, app.LastErrcode, app.LastError = wxfleet.FleetAppDone, result, 0, ""
	return s.finishFleetApp(ctx, a, app)
}

// finishFleetApp writes an app's final state and completes the action when
// it was the last.
func (s *Service) finishFleetApp(ctx context.Context, a *wxfleet.FleetAction, app *wxfleet.FleetActionApp) error {
	app.UpdatedAt = s.Now()
	ok, err := s.Store.UpdateFleetActionApp(ctx, a.ComponentAppID, app, wxfleet.FleetAppPending)
	if err != nil || !ok {
		return err
	}
	s.observe("fleet_"+a.Kind, app.State)
	done, err := s.Store.CompleteFleetAction(ctx, a.ComponentAppID, a.ID, s.Now())
	if err == nil && done {
		s.Logger.Info("fleet action completed", "component_appid", a.ComponentAppID, "action", a.ID, "kind", a.Kind)
	}
	return err
}

// SetupArgs applies the platform's policy template (the newest template
// declaring a policy) to an app that has just authorized.
type SetupArgs struct {
	ComponentAppID string `json:"component_appid"`
	AppID          string `json:"appid"`
}

// Kind implements river.JobArgs.
func (SetupArgs) Kind() string { return "app_setup" }

// InsertOpts keeps one waiting setup per app.
func (a SetupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: maxStepAttempts, Priority: stepPriority, Tags: []string{"app_" + a.AppID},
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinished}}
}

// SetupWorker works SetupArgs.
type SetupWorker struct {
	river.WorkerDefaults[SetupArgs]
	Service *Service
}

// Timeout bounds the settings calls.
func (w *SetupWorker) Timeout(*river.Job[SetupArgs]) time.Duration { return 2 * time.Minute }

// Work applies the policy; with no template declaring one there is nothing to do.
func (w *SetupWorker) Work(ctx context.Context, job *river.Job[SetupArgs]) error {
	s, a := w.Service, job.Args
	t, err := s.Store.PolicyTemplate(ctx, a.ComponentAppID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if s.authorizedReason(ctx, a.ComponentAppID, a.AppID) != "" {
		return nil // revoked meanwhile, or no permission: the next authorization runs again
	}
	set, err := s.applyPolicy(ctx, s.Tokens.AuthorizerSource(a.ComponentAppID, a.AppID), t.Policy, s.pace)
	if err != nil {
		if _, transient := classify(err); !transient {
			s.Logger.Warn("applying the template policy on authorization failed", "component_appid", a.ComponentAppID,
				"appid", a.AppID, "template_id", t.TemplateID, "err", err)
			s.observe("setup", "failed")
			return river.JobCancel(err)
		}
		return err
	}
	s.observe("setup", "ok")
	s.Logger.Info("template policy applied on authorization", "component_appid", a.ComponentAppID, "appid", a.AppID,
		"template_id", t.TemplateID, "set", set)
	return nil
}

// Authorized enqueues the policy setup of an app that has just authorized,
// in tx, the transaction storing the authorization
// (authorization.Service.OnAuthorized): the two commit together, so a crash
// between them cannot lose the job.
func (s *Service) Authorized(ctx context.Context, tx *sql.Tx, componentAppID, appID string) error {
	if _, err := s.Store.PolicyTemplate(ctx, componentAppID); wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil // no template declares a policy: nothing to apply
	} else if err != nil {
		return err
	}
	return s.Jobs().InsertTx(ctx, tx, SetupArgs{ComponentAppID: componentAppID, AppID: appID}, nil)
}

// SetTemplatePolicy validates and stores a template's policy.
func (s *Service) SetTemplatePolicy(ctx context.Context, componentAppID string, templateID int64, p *wxfleet.TemplatePolicy) error {
	if err := ValidatePolicy(p); err != nil {
		return err
	}
	return s.Store.SetTemplatePolicy(ctx, componentAppID, templateID, p)
}

// ReleaseHold clears WeChat's hold on an app once the suspension is resolved.
func (s *Service) ReleaseHold(ctx context.Context, componentAppID, appID string) error {
	ok, err := s.Store.ReleaseHold(ctx, componentAppID, appID)
	if err == nil && !ok {
		return wxfleet.Errorf(wxfleet.ENOTFOUND, "小程序 %s 没有暂停记录 / mini program %s is not held", appID, appID)
	}
	return err
}

// Testers lists an app's experience members' userstrs (memberauth).
func (s *Service) Testers(ctx context.Context, componentAppID, appID string) ([]string, error) {
	l, err := s.WeChat.Testers(ctx, s.Tokens.AuthorizerSource(componentAppID, appID))
	if err != nil {
		return nil, wechatErr("读取体验者失败 / listing the testers failed", err)
	}
	return l, nil
}
