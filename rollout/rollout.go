package rollout

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/webhook"
	"github.com/wxfleet/wxfleet/wechat"
)

// Store is what rollouts read and write.
type Store interface {
	Platform(ctx context.Context, componentAppID string) (*wxfleet.Platform, error)
	Authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error)
	AuthorizerSettings(ctx context.Context, componentAppID, appID string) (map[string]any, error)
	TargetAppIDs(ctx context.Context, componentAppID string, t wxfleet.RolloutTargets) ([]string, error)
	// BlockedTenantApps names the apps whose tenant is suspended or closed.
	BlockedTenantApps(ctx context.Context, componentAppID string) (map[string]store.BlockedApp, error)
	// BlockedTenantApp is the same for one app (nil: not blocked).
	BlockedTenantApp(ctx context.Context, componentAppID, appID string) (*store.BlockedApp, error)

	SyncTemplates(ctx context.Context, componentAppID string, list []wxfleet.Template, now time.Time) error
	Template(ctx context.Context, componentAppID string, templateID int64) (*wxfleet.Template, error)
	ListTemplates(ctx context.Context, componentAppID string) ([]*wxfleet.Template, error)
	SetTemplateDetails(ctx context.Context, componentAppID string, templateID int64, extJSON, notes string) error
	MarkTemplateDeleted(ctx context.Context, componentAppID string, templateID int64, now time.Time) error

	CreateRollout(ctx context.Context, r *wxfleet.Rollout, appIDs []string, skipped map[string]string, then store.Then) error
	Rollout(ctx context.Context, componentAppID string, id int64) (*wxfleet.Rollout, error)
	ListRollouts(ctx context.Context, componentAppID string, f store.RolloutFilter) ([]*wxfleet.Rollout, error)
	SetRolloutStatus(ctx context.Context, componentAppID string, id int64, from []wxfleet.RolloutStatus, to wxfleet.RolloutStatus, reason string, now time.Time, then store.Then) (bool, error)
	AdvanceCohort(ctx context.Context, componentAppID string, id int64, from int, now time.Time, then store.Then) (bool, error)
	RunningRollouts(ctx context.Context) ([]wxfleet.Rollout, error)
	RolloutCounts(ctx context.Context, id int64) (map[wxfleet.AppState]int, error)
	CohortCounts(ctx context.Context, id int64, cohort int) (map[wxfleet.AppState]int, error)
	RolloutApps(ctx context.Context, componentAppID string, id int64, f store.RolloutAppFilter) ([]*wxfleet.RolloutApp, error)
	RolloutApp(ctx context.Context, componentAppID string, id int64, appID string) (*wxfleet.RolloutApp, error)
	UpdateRolloutApp(ctx context.Context, componentAppID string, a *wxfleet.RolloutApp, from wxfleet.AppState, then store.Then) (bool, error)
	CancelRolloutApps(ctx context.Context, componentAppID string, id int64, now time.Time) (int, error)
	AuditingApps(ctx context.Context, componentAppID, appID string) ([]*wxfleet.RolloutApp, error)
	AuditDecidedSince(ctx context.Context, componentAppID, appID string, since time.Time) (bool, error)
	ReserveSlot(ctx context.Context, name string, interval time.Duration, now time.Time, maxAhead time.Duration) (time.Time, bool, error)

	SetTemplatePolicy(ctx context.Context, componentAppID string, templateID int64, p *wxfleet.TemplatePolicy) error
	PolicyTemplate(ctx context.Context, componentAppID string) (*wxfleet.Template, error)
	GrayReleasedApps(ctx context.Context, componentAppID string, appIDs []string, since time.Time) (map[string]int64, error)
	HoldApp(ctx context.Context, componentAppID, appID string, errcode int, reason string, now time.Time) error
	ReleaseHold(ctx context.Context, componentAppID, appID string) (bool, error)
	AppHoldOf(ctx context.Context, componentAppID, appID string) (*store.AppHold, error)

	CreateFleetAction(ctx context.Context, a *wxfleet.FleetAction, appIDs []string, skipped map[string]string, then store.Then) error
	FleetAction(ctx context.Context, componentAppID string, id int64) (*wxfleet.FleetAction, error)
	ListFleetActions(ctx context.Context, componentAppID string, before int64, limit int) ([]*wxfleet.FleetAction, error)
	RunningFleetActions(ctx context.Context) ([]*wxfleet.FleetAction, error)
	FleetActionCounts(ctx context.Context, componentAppID string, id int64) (map[string]int, error)
	CompleteFleetAction(ctx context.Context, componentAppID string, id int64, now time.Time) (bool, error)
	FleetActionApps(ctx context.Context, componentAppID string, id int64, state, cursor string, limit int) ([]*wxfleet.FleetActionApp, error)
	FleetActionApp(ctx context.Context, componentAppID string, id int64, appID string) (*wxfleet.FleetActionApp, error)
	UpdateFleetActionApp(ctx context.Context, componentAppID string, a *wxfleet.FleetActionApp, from string) (bool, error)
}

// Tokens supplies the tokens WeChat's code APIs take.
type Tokens interface {
	ComponentSource(componentAppID string) wechat.TokenSource
	AuthorizerSource(componentAppID, appID string) wechat.TokenSource
}

// Jobs enqueues River jobs inside a store transaction, so a state change and
// the step that follows it commit together.
type Jobs interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error
	// InsertMany enqueues jobs that follow no state change (a person's action).
	InsertMany(ctx context.Context, params []river.InsertManyParams) error
	CancelTagged(ctx context.Context, tag string) (int, error)
}

// Service runs templates and rollouts.
type Service struct {
	Store  Store
	WeChat *wechat.Client
	Tokens Tokens
	Jobs   func() Jobs // set once the River client exists
	Now    func() time.Time
	Logger *slog.Logger
	// PollInterval is how long after a submission, and then how often, an
	// audit is polled when no push has told the result; 0 → 10 minutes.
	PollInterval time.Duration
	// RetryBase is the first retry delay of a failed step, doubling up to 5
	// minutes; 0 → 5 s. QuotaWait is how long a step waits after WeChat's
	// daily quota ran out (45009) or the monthly audit quota (85085, four
	// times as long); 0 → 15 minutes. The demo and tests shorten both.
	RetryBase time.Duration
	QuotaWait time.Duration
	// SettleTime is how long a commit or submit_audit whose answer was lost
	// (a timeout, a crash) may still land on WeChat's side. Until it has
	// passed, the step only asks WeChat what happened and waits; after it,
	// no sign of the call means it never arrived and it is made again.
	// 0 → 2 minutes. Shorter means a second call is more likely when WeChat
	// is slow; longer means a slower recovery.
	SettleTime time.Duration
	// Rate bounds the calls rollouts make to WeChat, per second, for the
	// whole cluster; APIRates bounds single APIs (by path, e.g. /wxa/commit).
	// 0 or absent: no bound. See pace.
	Rate     float64
	APIRates map[string]float64
	// Observe counts steps by result (metrics); may be nil.
	Observe func(step, result string)
	// Events sends audit results and releases out (webhooks); nil sends nothing.
	Events webhook.Emitter

	quotas quotaCache
}

func (s *Service) retryBase() time.Duration {
	if s.RetryBase > 0 {
		return s.RetryBase
	}
	return 5 * time.Second
}

func (s *Service) settleTime() time.Duration {
	if s.SettleTime > 0 {
		return s.SettleTime
	}
	return 2 * time.Minute
}

func (s *Service) quotaWait() time.Duration {
	if s.QuotaWait > 0 {
		return s.QuotaWait
	}
	return 15 * time.Minute
}

func (s *Service) pollInterval() time.Duration {
	if s.PollInterval > 0 {
		return s.PollInterval
	}
	return 10 * time.Minute
}

func (s *Service) observe(step, result string) {
	if s.Observe != nil {
		s.Observe(step, result)
	}
}

// Limits of a rollout request.
const (
	DefaultBatchSize       = 100
	MaxBatchSize           = 10_000
	DefaultMaxFailureRatio = 0.1
	MaxTargets             = 200_000
)

// CreateRequest is the body of POST /api/v1/rollouts.
type CreateRequest struct {
	TemplateID      int64                  `json:"template_id"`
	UserVersion     string                 `json:"user_version"`
	UserDesc        string                 `json:"user_desc"`
	Targets         wxfleet.RolloutTargets `json:"targets"`
	Release         string                 `json:"release"`
	GrayPercentage  int                    `json:"gray_percentage"`
	BatchSize       int                    `json:"batch_size"`
	MaxFailureRatio *float64               `json:"max_failure_ratio"`
}

// PlanItem is what a rollout would do with one mini program.
type PlanItem struct {
	AppID  string `json:"appid"`
	Action string `json:"action"`           // "commit", "wait" (for audit quota: committed once there is some) or "skip"
	Reason string `json:"reason,omitempty"` // why it is skipped or waits
	// grayRecord: skipped only because the platform's records leave the app
	// in gray release; WeChat, when asked, has the last word.
	grayRecord bool
}

// Plan is a dry run: what a rollout would do, app by app, before anything is sent.
type Plan struct {
	Items   []PlanItem `json:"items"`
	Commit  int        `json:"commit"`
	Wait    int        `json:"wait"`
	Skip    int        `json:"skip"`
	Cohorts int        `json:"cohorts"`
	// AuditQuotaRest is this month's submit_audit quota left (queryquota),
	// nil when it could not be read (AuditQuotaError says why).
	AuditQuotaRest  *int   `json:"audit_quota_rest,omitempty"`
	AuditQuotaError string `json:"audit_quota_error,omitempty"`
	// GrayChecked says how gray releases in progress were found: "wechat"
	// (getgrayreleaseplan for every app) or "records" (the platform's own
	// rollouts: a fleet over DryRunProbe apps; the prepare step still asks
	// WeChat before each commit).
	GrayChecked string `json:"gray_checked"`
}

// DryRunProbe is how many apps a dry run asks WeChat about (gray releases)
// at most: it answers synchronously, within the rollout call rate.
const DryRunProbe = 200

// permCodeManagement is the permission set a rollout needs: 小程序开发管理.
const permCodeManagement = 18

// checkTargets checks that t names its apps one way, and not too many.
func checkTargets(t wxfleet.RolloutTargets) error {
	n := 0
	if t.All {
		n++
	}
	if len(t.AppIDs) > 0 {
		n++
	}
	if len(t.Tags) > 0 {
		n++
	}
	if n != 1 {
		return wxfleet.Errorf(wxfleet.EINVALID, `targets 须是 {"all":true}、{"appids":[...]} 或 {"tags":[...]} 之一 / targets must be exactly one of {"all":true}, {"appids":[...]} or {"tags":[...]}`)
	}
	if len(t.AppIDs) > MaxTargets {
		return wxfleet.Errorf(wxfleet.EINVALID, "一次最多 %d 个小程序 / at most %d mini programs at once", MaxTargets, MaxTargets)
	}
	return nil
}

func (s *Service) check(req *CreateRequest) error {
	if err := checkTargets(req.Targets); err != nil {
		return err
	}
	switch req.Release {
	case "":
		req.Release = wxfleet.ReleaseAuto
	case wxfleet.ReleaseAuto, wxfleet.ReleaseManual:
	default:
		return wxfleet.Errorf(wxfleet.EINVALID, `release 只能是 "auto" 或 "manual" / release must be "auto" or "manual"`)
	}
	if req.GrayPercentage < 0 || req.GrayPercentage > 100 {
		return wxfleet.Errorf(wxfleet.EINVALID, "gray_percentage 须在 0 到 100 之间 / gray_percentage must be 0 to 100")
	}
	if req.BatchSize == 0 {
		req.BatchSize = DefaultBatchSize
	}
	if req.BatchSize < 1 || req.BatchSize > MaxBatchSize {
		return wxfleet.Errorf(wxfleet.EINVALID, "batch_size 须在 1 到 %d 之间 / batch_size must be 1 to %d", MaxBatchSize, MaxBatchSize)
	}
	if req.MaxFailureRatio == nil {
		r := DefaultMaxFailureRatio
		req.MaxFailureRatio = &r
	}
	if r := *req.MaxFailureRatio; r < 0 || r > 1 {
		return wxfleet.Errorf(wxfleet.EINVALID, "max_failure_ratio 须在 0 到 1 之间 / max_failure_ratio must be 0 to 1")
	}
	if len([]rune(req.UserDesc)) > 200 {
		return wxfleet.Errorf(wxfleet.EINVALID, "user_desc 最长 200 个字符 / user_desc is at most 200 characters")
	}
	return nil
}

// DryRun lists what Create would do, app by app, and why an app would be
// skipped or wait, and changes nothing. Besides what Create checks it asks
// WeChat, for fleets of up to DryRunProbe apps, whether a gray release runs,
// and reads the platform's audit quota: the apps beyond it would wait.
func (s *Service) DryRun(ctx context.Context, componentAppID string, req CreateRequest) (*Plan, error) {
	_, plan, err := s.plan(ctx, componentAppID, &req)
	if err != nil {
		return nil, err
	}
	// The apps to ask WeChat about: those that would go, and those the
	// platform's records leave in gray release (WeChat may have released
	// them fully since: on the 15th day it does so itself).
	var commit []int
	for i, it := range plan.Items {
		if it.Action == "commit" || it.grayRecord {
			commit = append(commit, i)
		}
	}
	// Without a WeChat client (a service built for the store alone, as the
	// tenant tests build it) the platform's own records answer, and the
	// audit quota is not asked.
	online := s.WeChat != nil && s.Tokens != nil
	if len(commit) <= DryRunProbe && online {
		plan.GrayChecked = "wechat"
		for _, i := range commit {
			it := &plan.Items[i]
			gray, err := s.grayInProgress(ctx, s.Tokens.AuthorizerSource(componentAppID, it.AppID), s.paceWait)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				it.Action, it.Reason = "skip", "查询分阶段发布失败 / reading the gray release plan failed: "+err.Error()
			} else if gray && !it.grayRecord {
				it.Action, it.Reason = "skip", grayReason
			} else if !gray && it.grayRecord {
				it.Action, it.Reason = "commit", "" // WeChat released it fully
			}
		}
	}
	var left []int
	for _, i := range commit {
		if plan.Items[i].Action == "commit" {
			left = append(left, i)
		}
	}
	if len(left) > 0 && online {
		rest, err := s.auditQuotaWait(ctx, componentAppID, s.Tokens.AuthorizerSource(componentAppID, plan.Items[left[0]].AppID))
		if err != nil {
			plan.AuditQuotaError = err.Error()
		} else {
			plan.AuditQuotaRest = &rest
			for n, i := range left {
				if n >= rest {
					plan.Items[i].Action, plan.Items[i].Reason = "wait", quotaReason(rest)
				}
			}
		}
	}
	plan.Commit, plan.Wait, plan.Skip = 0, 0, 0
	for _, it := range plan.Items {
		switch it.Action {
		case "commit":
			plan.Commit++
		case "wait":
			plan.Wait++
		default:
			plan.Skip++
		}
	}
	return plan, nil
}

func (s *Service) plan(ctx context.Context, componentAppID string, req *CreateRequest) (*wxfleet.Template, *Plan, error) {
	if err := s.check(req); err != nil {
		return nil, nil, err
	}
	t, err := s.Store.Template(ctx, componentAppID, req.TemplateID)
	if err != nil {
		return nil, nil, err
	}
	if !t.DeletedAt.IsZero() {
		return nil, nil, wxfleet.Errorf(wxfleet.ECONFLICT, "模板 %d 已在微信删除 / template %d was deleted on WeChat's side", t.TemplateID, t.TemplateID)
	}
	if req.UserVersion == "" {
		req.UserVersion = t.UserVersion
	}
	if req.UserDesc == "" {
		req.UserDesc = t.UserDesc
	}
	if req.UserVersion == "" {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "缺少 user_version / user_version is required")
	}
	ids, err := s.Store.TargetAppIDs(ctx, componentAppID, req.Targets)
	if err != nil {
		return nil, nil, err
	}
	if len(ids) == 0 {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "targets 没有选中任何小程序 / targets select no mini program")
	}
	blocked, err := s.Store.BlockedTenantApps(ctx, componentAppID)
	if err != nil {
		return nil, nil, err
	}
	// A gray release older than 15 days is over: WeChat released it fully.
	gray, err := s.Store.GrayReleasedApps(ctx, componentAppID, ids, s.Now().Add(-GrayAutoRelease))
	if err != nil {
		return nil, nil, err
	}
	plan := &Plan{Items: make([]PlanItem, 0, len(ids)), GrayChecked: "records"}
	for _, id := range ids {
		item := PlanItem{AppID: id, Action: "commit"}
		reason := ""
		if b, ok := blocked[id]; ok {
			reason = blockedReason(b)
		} else {
			reason = s.skipReason(ctx, componentAppID, id, t)
		}
		if reason == "" && gray[id] != 0 {
			reason = fmt.Sprintf("%s（发布任务 %d）/ (rollout %d)", grayReason, gray[id], gray[id])
			item.grayRecord = true
		}
		if reason != "" {
			item.Action, item.Reason = "skip", reason
			plan.Skip++
		} else {
			plan.Commit++
		}
		plan.Items = append(plan.Items, item)
	}
	plan.Cohorts = (len(ids) + req.BatchSize - 1) / req.BatchSize
	return t, plan, nil
}

// tenantStatusZH names a blocked tenant status in Chinese.
// blockedReason says why an app whose tenant is suspended or closed is skipped.
func blockedReason(b store.BlockedApp) string {
	return fmt.Sprintf("租户 %d 已%s / tenant %d is %s", b.TenantID, tenantStatusZH(b.Status), b.TenantID, b.Status)
}

func tenantStatusZH(s wxfleet.TenantStatus) string {
	if s == wxfleet.TenantClosed {
		return "关闭"
	}
	return "停用"
}

// skipReason says why an app cannot take part, or "" when it can.
func (s *Service) skipReason(ctx context.Context, componentAppID, appID string, t *wxfleet.Template) string {
	if why := s.authorizedReason(ctx, componentAppID, appID); why != "" {
		return why
	}
	if why := s.suspended(ctx, componentAppID, appID); why != "" {
		return why
	}
	if _, err := s.extJSON(ctx, componentAppID, appID, t); err != nil {
		return wxfleet.ErrorMessage(err)
	}
	return ""
}

// suspended says why an app is suspended by WeChat (a hold recorded from
// 86007); "" when not. A suspended or closed tenant is plan's
// (BlockedTenantApps).
func (s *Service) suspended(ctx context.Context, componentAppID, appID string) string {
	h, err := s.Store.AppHoldOf(ctx, componentAppID, appID)
	if err != nil {
		return "读取暂停状态失败 / cannot read the suspension: " + wxfleet.ErrorMessage(err)
	}
	if h != nil {
		return fmt.Sprintf("微信已禁止该小程序提交审核（%d），解除后重试 / suspended by WeChat: submissions refused (%d) since %s; clear the hold once resolved",
			h.Errcode, h.Errcode, h.HeldAt.UTC().Format(time.RFC3339))
	}
	return ""
}

func (s *Service) extJSON(ctx context.Context, componentAppID, appID string, t *wxfleet.Template) (string, error) {
	settings, err := s.Store.AuthorizerSettings(ctx, componentAppID, appID)
	if err != nil {
		return "", err
	}
	return RenderExtJSON(t.ExtJSON, appID, settings)
}

// Create starts a rollout: it stores the rollout with every target app and,
// in the same transaction, the job that starts the first cohort.
func (s *Service) Create(ctx context.Context, componentAppID string, req CreateRequest) (*wxfleet.Rollout, error) {
	t, plan, err := s.plan(ctx, componentAppID, &req)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	r := &wxfleet.Rollout{
		ComponentAppID: componentAppID, TemplateID: t.TemplateID, UserVersion: req.UserVersion, UserDesc: req.UserDesc,
		Targets: req.Targets, Release: req.Release, GrayPercentage: req.GrayPercentage, BatchSize: req.BatchSize,
		MaxFailureRatio: *req.MaxFailureRatio, Status: wxfleet.RolloutRunning, CreatedAt: now, UpdatedAt: now,
	}
	ids := make([]string, len(plan.Items))
	skipped := map[string]string{}
	for i, it := range plan.Items {
		ids[i] = it.AppID
		// An app the records leave in gray release goes on to its prepare
		// step, which asks WeChat before anything is committed: the gray
		// release may be over (WeChat releases it fully on its 15th day).
		if it.Action == "skip" && !it.grayRecord {
			skipped[it.AppID] = it.Reason
		}
	}
	var first []string
	for _, id := range ids[:min(len(ids), r.BatchSize)] {
		if _, skip := skipped[id]; !skip {
			first = append(first, id)
		}
	}
	err = s.Store.CreateRollout(ctx, r, ids, skipped, func(ctx context.Context, tx *sql.Tx) error {
		if len(first) == 0 {
			return nil
		}
		return s.startCohort(ctx, tx, r, 0)
	})
	if err != nil {
		return nil, err
	}
	s.Logger.Info("rollout created", "component_appid", componentAppID, "rollout", r.ID, "template_id", r.TemplateID,
		"user_version", r.UserVersion, "apps", len(ids), "skipped", len(skipped), "cohorts", plan.Cohorts)
	if len(first) == 0 {
		// Everything in the first cohort was skipped: move on now.
		if err := s.advance(ctx, componentAppID, r.ID); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// enqueue inserts one step job per app in tx.
func (s *Service) enqueue(ctx context.Context, tx *sql.Tx, r *wxfleet.Rollout, step string, appIDs ...string) error {
	if len(appIDs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(appIDs))
	for i, id := range appIDs {
		params[i] = river.InsertManyParams{Args: StepArgs{ComponentAppID: r.ComponentAppID, RolloutID: r.ID, AppID: id, Step: step}}
	}
	return s.Jobs().InsertManyTx(ctx, tx, params)
}

// Counts are a rollout's apps by state, as the API shows them.
type Counts struct {
	Total      int `json:"total"`
	Pending    int `json:"pending"`
	Committed  int `json:"committed"`
	Auditing   int `json:"auditing"`
	Approved   int `json:"approved"`
	Rejected   int `json:"rejected"`
	Released   int `json:"released"`
	Failed     int `json:"failed"`
	Skipped    int `json:"skipped"`
	Cancelled  int `json:"cancelled"`
	RolledBack int `json:"rolled_back"`
}

func countsOf(m map[wxfleet.AppState]int) Counts {
	c := Counts{Pending: m[wxfleet.AppPending], Committed: m[wxfleet.AppCommitted], Auditing: m[wxfleet.AppAuditing],
		Approved: m[wxfleet.AppApproved], Rejected: m[wxfleet.AppRejected], Released: m[wxfleet.AppReleased],
		Failed: m[wxfleet.AppFailed], Skipped: m[wxfleet.AppSkipped], Cancelled: m[wxfleet.AppCancelled],
		RolledBack: m[wxfleet.AppRolledBack]}
	for _, n := range m {
		c.Total += n
	}
	return c
}

// Status is a rollout with its counts.
type Status struct {
	*wxfleet.Rollout
	Counts  Counts
	Cohorts int
}

// Get returns a rollout and its counts.
func (s *Service) Get(ctx context.Context, componentAppID string, id int64) (*Status, error) {
	r, err := s.Store.Rollout(ctx, componentAppID, id)
	if err != nil {
		return nil, err
	}
	m, err := s.Store.RolloutCounts(ctx, id)
	if err != nil {
		return nil, err
	}
	c := countsOf(m)
	return &Status{Rollout: r, Counts: c, Cohorts: (c.Total + r.BatchSize - 1) / r.BatchSize}, nil
}

// Pause stops a running rollout after the steps in flight.
func (s *Service) Pause(ctx context.Context, componentAppID string, id int64) error {
	r, err := s.Store.Rollout(ctx, componentAppID, id)
	if err != nil {
		return err
	}
	moved, err := s.Store.SetRolloutStatus(ctx, componentAppID, id, []wxfleet.RolloutStatus{wxfleet.RolloutRunning, wxfleet.RolloutPending},
		wxfleet.RolloutPaused, "操作员暂停 / paused by an operator", s.Now(), nil)
	if err != nil {
		return err
	}
	if !moved {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "发布任务 %d 当前为 %s，不能暂停 / rollout %d is %s and cannot be paused", id, r.Status, id, r.Status)
	}
	return nil
}

// Resume restarts a paused rollout: every unfinished app of the cohorts
// reached so far gets the step its state calls for.
func (s *Service) Resume(ctx context.Context, componentAppID string, id int64) error {
	r, err := s.Store.Rollout(ctx, componentAppID, id)
	if err != nil {
		return err
	}
	moved, err := s.Store.SetRolloutStatus(ctx, componentAppID, id, []wxfleet.RolloutStatus{wxfleet.RolloutPaused},
		wxfleet.RolloutRunning, "", s.Now(), func(ctx context.Context, tx *sql.Tx) error {
			if err := s.requeue(ctx, tx, r); err != nil {
				return err
			}
			return s.requeueLater(ctx, tx, r)
		})
	if err != nil {
		return err
	}
	if !moved {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "发布任务 %d 当前为 %s，不能继续 / rollout %d is %s and cannot be resumed", id, r.Status, id, r.Status)
	}
	return s.advance(ctx, componentAppID, id)
}

// requeue enqueues the next step of every unfinished app in cohorts up to
// the rollout's current one. Jobs are unique per (rollout, app, step): one
// already waiting is not doubled.
func (s *Service) requeue(ctx context.Context, tx *sql.Tx, r *wxfleet.Rollout) error {
	for cohort := 0; cohort <= r.Cohort; cohort++ {
		cursor := ""
		for {
			apps, err := s.Store.RolloutApps(ctx, r.ComponentAppID, r.ID, store.RolloutAppFilter{Cohort: cohort, Limit: 1000, Cursor: cursor})
			if err != nil {
				return err
			}
			for _, a := range apps {
				if step := nextStep(r, a.State); step != "" {
					if err := s.enqueue(ctx, tx, r, step, a.AppID); err != nil {
						return err
					}
				}
			}
			if len(apps) < 1000 {
				break
			}
			cursor = apps[len(apps)-1].AppID
		}
	}
	return nil
}

// nextStep is the step an app in state st waits for ("" for none).
func nextStep(r *wxfleet.Rollout, st wxfleet.AppState) string {
	switch st {
	case wxfleet.AppPending:
		return stepCommit
	case wxfleet.AppCommitted:
		return stepSubmit
	case wxfleet.AppAuditing:
		return stepPoll
	case wxfleet.AppApproved:
		if r.Release == wxfleet.ReleaseAuto {
			return stepRelease
		}
	}
	return ""
}

// Cancel stops a rollout for good: unfinished apps are cancelled and their
// waiting jobs removed. What WeChat already has (a commit, an audit in
// progress) stays as it is.
func (s *Service) Cancel(ctx context.Context, componentAppID string, id int64) error {
	r, err := s.Store.Rollout(ctx, componentAppID, id)
	if err != nil {
		return err
	}
	moved, err := s.Store.SetRolloutStatus(ctx, componentAppID, id,
		[]wxfleet.RolloutStatus{wxfleet.RolloutPending, wxfleet.RolloutRunning, wxfleet.RolloutPaused},
		wxfleet.RolloutCancelled, "操作员取消 / cancelled by an operator", s.Now(), nil)
	if err != nil {
		return err
	}
	if !moved {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "发布任务 %d 当前为 %s，不能取消 / rollout %d is %s and cannot be cancelled", id, r.Status, id, r.Status)
	}
	n, err := s.Store.CancelRolloutApps(ctx, componentAppID, id, s.Now())
	if err != nil {
		return err
	}
	if _, err := s.Jobs().CancelTagged(ctx, RolloutTag(id)); err != nil {
		return err
	}
	s.Logger.Info("rollout cancelled", "component_appid", componentAppID, "rollout", id, "apps_cancelled", n)
	return nil
}

// RetryFailed sends every failed app of the cohorts reached so far through
// the steps again, from the commit; a completed rollout runs again.
func (s *Service) RetryFailed(ctx context.Context, componentAppID string, id int64) (int, error) {
	r, err := s.Store.Rollout(ctx, componentAppID, id)
	if err != nil {
		return 0, err
	}
	if r.Status == wxfleet.RolloutCancelled {
		return 0, wxfleet.Errorf(wxfleet.ECONFLICT, "发布任务 %d 已取消 / rollout %d was cancelled", id, id)
	}
	n := 0
	for {
		apps, err := s.Store.RolloutApps(ctx, componentAppID, id, store.RolloutAppFilter{State: wxfleet.AppFailed, Cohort: -1, Limit: 1000})
		if err != nil {
			return n, err
		}
		for _, a := range apps {
			b := *a
			b.State, b.LastErrcode, b.LastError, b.Attempts = wxfleet.AppPending, 0, "", 0
			b.CommitSentAt, b.SubmitSentAt, b.UpdatedAt = time.Time{}, time.Time{}, s.Now()
			ok, err := s.Store.UpdateRolloutApp(ctx, componentAppID, &b, wxfleet.AppFailed, func(ctx context.Context, tx *sql.Tx) error {
				if a.Cohort > r.Cohort || r.Status == wxfleet.RolloutPaused {
					return nil // its cohort's turn (or the resume) enqueues it
				}
				return s.enqueue(ctx, tx, r, stepCommit, a.AppID)
			})
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
		if len(apps) < 1000 {
			break
		}
	}
	if n > 0 && r.Status.Final() {
		if _, err := s.Store.SetRolloutStatus(ctx, componentAppID, id, []wxfleet.RolloutStatus{wxfleet.RolloutCompleted, wxfleet.RolloutFailed},
			wxfleet.RolloutRunning, "", s.Now(), func(ctx context.Context, tx *sql.Tx) error { return s.requeue(ctx, tx, r) }); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Release releases the approved apps of a manual-release rollout (or those
// named in appIDs).
func (s *Service) Release(ctx context.Context, componentAppID string, id int64, appIDs []string) (int, error) {
	r, err := s.Store.Rollout(ctx, componentAppID, id)
	if err != nil {
		return 0, err
	}
	if r.Status.Final() || r.Status == wxfleet.RolloutPaused {
		return 0, wxfleet.Errorf(wxfleet.ECONFLICT, "发布任务 %d 当前为 %s / rollout %d is %s", id, r.Status, id, r.Status)
	}
	var targets []string
	cursor := ""
	for {
		apps, err := s.Store.RolloutApps(ctx, componentAppID, id, store.RolloutAppFilter{State: wxfleet.AppApproved, Cohort: -1, Limit: 1000, Cursor: cursor})
		if err != nil {
			return 0, err
		}
		for _, a := range apps {
			if len(appIDs) == 0 || slices.Contains(appIDs, a.AppID) {
				targets = append(targets, a.AppID)
			}
		}
		if len(apps) < 1000 {
			break
		}
		cursor = apps[len(apps)-1].AppID
	}
	if len(targets) == 0 {
		return 0, nil
	}
	// No state changes here: the jobs alone are enqueued.
	params := make([]river.InsertManyParams, len(targets))
	for i, appID := range targets {
		params[i] = river.InsertManyParams{Args: StepArgs{ComponentAppID: componentAppID, RolloutID: id, AppID: appID, Step: stepRelease}}
	}
	return len(targets), s.Jobs().InsertMany(ctx, params)
}

// Selection names some of a rollout's apps: those listed, or those of one
// cohort (Cohort ≥ 0), or all when both are unset.
type Selection struct {
	AppIDs []string `json:"appids"`
	Cohort *int     `json:"cohort"`
}

func (sel Selection) has(a *wxfleet.RolloutApp) bool {
	if len(sel.AppIDs) > 0 && !slices.Contains(sel.AppIDs, a.AppID) {
		return false
	}
	return sel.Cohort == nil || *sel.Cohort == a.Cohort
}

// act enqueues step for every app of the rollout in state that sel names,
// and returns how many.
func (s *Service) act(ctx context.Context, componentAppID string, id int64, state wxfleet.AppState, sel Selection, step, toVersion string) (int, error) {
	if _, err := s.Store.Rollout(ctx, componentAppID, id); err != nil {
		return 0, err
	}
	var params []river.InsertManyParams
	cursor := ""
	for {
		apps, err := s.Store.RolloutApps(ctx, componentAppID, id, store.RolloutAppFilter{State: state, Cohort: -1, Limit: 1000, Cursor: cursor})
		if err != nil {
			return 0, err
		}
		for _, a := range apps {
			if sel.has(a) {
				params = append(params, river.InsertManyParams{Args: StepArgs{ComponentAppID: componentAppID, RolloutID: id,
					AppID: a.AppID, Step: step, ToVersion: toVersion}})
			}
		}
		if len(apps) < 1000 {
			break
		}
		cursor = apps[len(apps)-1].AppID
	}
	if len(params) == 0 {
		return 0, nil
	}
	// No state changes here: the jobs alone are enqueued.
	return len(params), s.Jobs().InsertMany(ctx, params)
}

// Rollback rolls released apps back: to the version before, or to the
// version toVersion (a user_version in each app's release history). A gray
// release is rolled back with revertgrayrelease.
func (s *Service) Rollback(ctx context.Context, componentAppID string, id int64, sel Selection, toVersion string) (int, error) {
	return s.act(ctx, componentAppID, id, wxfleet.AppReleased, sel, stepRollback, toVersion)
}

// UndoAudit withdraws the audits in progress (undocodeaudit); WeChat allows
// a few a day per mini program.
func (s *Service) UndoAudit(ctx context.Context, componentAppID string, id int64, sel Selection) (int, error) {
	return s.act(ctx, componentAppID, id, wxfleet.AppAuditing, sel, stepUndo, "")
}

// SpeedupAudit asks WeChat to expedite the audits in progress (speedupaudit).
func (s *Service) SpeedupAudit(ctx context.Context, componentAppID string, id int64, sel Selection) (int, error) {
	return s.act(ctx, componentAppID, id, wxfleet.AppAuditing, sel, stepSpeedup, "")
}

// RolloutTag is the River tag of every job of one rollout.
func RolloutTag(id int64) string { return "rollout_" + strconv.FormatInt(id, 10) }
