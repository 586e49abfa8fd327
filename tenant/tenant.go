// Package tenant runs the ISV's customers (租户): tenants with their plans
// (套餐) and subscriptions, the authorization links that land a mini program
// on a tenant, the runtime settings the generic mini program reads, and the
// expiry policy — reminders 30, 7 and 1 day before a term ends, then, after
// a grace period, suspension (rollouts skip a suspended tenant's apps).
//
// Every call takes the caller's wxfleet.Scope and hands it to the store,
// which filters every query on it.
package tenant

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/store"
)

// Store is what the service reads and writes (store.Store).
type Store interface {
	CreatePlan(ctx context.Context, sc wxfleet.Scope, p *wxfleet.Plan) error
	Plan(ctx context.Context, id int64) (*wxfleet.Plan, error)
	ListPlans(ctx context.Context) ([]*wxfleet.Plan, error)
	UpdatePlan(ctx context.Context, sc wxfleet.Scope, p *wxfleet.Plan) error

	CreateTenant(ctx context.Context, sc wxfleet.Scope, t *wxfleet.Tenant) error
	Tenant(ctx context.Context, sc wxfleet.Scope, id int64) (*wxfleet.Tenant, error)
	ListTenants(ctx context.Context, sc wxfleet.Scope, f store.TenantFilter) ([]*wxfleet.Tenant, error)
	UpdateTenant(ctx context.Context, sc wxfleet.Scope, t *wxfleet.Tenant) error
	TenantSettings(ctx context.Context, sc wxfleet.Scope, id int64) ([]byte, error)
	SetTenantSettings(ctx context.Context, sc wxfleet.Scope, id int64, settings []byte, now time.Time) error
	TenantAuthorizers(ctx context.Context, sc wxfleet.Scope, id int64) ([]store.TenantApp, error)
	CountTenantApps(ctx context.Context, sc wxfleet.Scope, id int64, now time.Time) (authorized, openLinks int, err error)
	SetAuthorizerTenant(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string, tenantID int64) error
	Authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error)
	AuthorizerSettings(ctx context.Context, componentAppID, appID string) (map[string]any, error)

	Subscription(ctx context.Context, sc wxfleet.Scope, tenantID int64) (*wxfleet.Subscription, error)
	SetSubscription(ctx context.Context, sc wxfleet.Scope, sub *wxfleet.Subscription) error
	RenewSubscription(ctx context.Context, sc wxfleet.Scope, tenantID int64, years int, now time.Time, then store.Then) (*wxfleet.Subscription, error)
	SetTenantStatus(ctx context.Context, sc wxfleet.Scope, id int64, from []wxfleet.TenantStatus, status wxfleet.TenantStatus, now time.Time, then store.Then) (bool, error)

	TermsDue(ctx context.Context, after, before time.Time, kind string, live bool, limit int) ([]store.Term, error)
	RecordReminder(ctx context.Context, tenantID int64, expiresAt time.Time, kind string, now time.Time, then store.Then) (bool, error)
	SuspendExpired(ctx context.Context, tenantID int64, expiresAt, now time.Time, then store.Then) (bool, error)
}

// Links makes authorization links (authorization.Service).
type Links interface {
	CreateLink(ctx context.Context, componentAppID string, req authorization.LinkRequest) (*authorization.Link, error)
}

// Notice kinds: what the expiry policy tells the world.
const (
	NoticeExpiring  = "subscription.expiring"
	NoticeExpired   = "subscription.expired"
	NoticeSuspended = "tenant.suspended"
)

// Notice is an event about a tenant, for whoever fans events out (webhooks).
type Notice struct {
	Kind     string
	TenantID int64
	Data     map[string]any
}

// Notifier sends notices. Notify runs inside the store transaction that
// records what the notice tells (tx), so a notice exists if and only if its
// record does; an implementation that enqueues a job should enqueue it in tx.
type Notifier interface {
	Notify(ctx context.Context, tx *sql.Tx, n Notice) error
}

// DefaultGrace is how long after its term ended a tenant stays active.
const DefaultGrace = 7 * 24 * time.Hour

// MaxSettingsBytes caps a tenant's runtime settings.
const MaxSettingsBytes = 64 << 10

// Service runs tenants, plans and subscriptions.
type Service struct {
	Store    Store
	Links    Links
	Notifier Notifier      // nil: notices are only recorded (and logged)
	Grace    time.Duration // after expiry, before suspension; 0 → DefaultGrace
	Now      func() time.Time
	Logger   *slog.Logger
}

func (s *Service) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return DefaultGrace
}

// notify sends n inside tx, if there is a notifier.
func (s *Service) notify(ctx context.Context, tx *sql.Tx, n Notice) error {
	if s.Notifier == nil {
		return nil
	}
	return s.Notifier.Notify(ctx, tx, n)
}

func invalid(format string, args ...any) error {
	return wxfleet.Errorf(wxfleet.EINVALID, format, args...)
}

// checkText bounds a free text field.
func checkText(field, v string, required bool, max int) (string, error) {
	v = strings.TrimSpace(v)
	if required && v == "" {
		return "", invalid("缺少 %s / %s is required", field, field)
	}
	if utf8.RuneCountInString(v) > max {
		return "", invalid("%s 最长 %d 个字符 / %s is at most %d characters", field, max, field, max)
	}
	return v, nil
}

func checkTags(tags []string) error {
	if len(tags) > 50 {
		return invalid("标签最多 50 个 / at most 50 tags")
	}
	for _, t := range tags {
		if utf8.RuneCountInString(strings.TrimSpace(t)) > 64 {
			return invalid("标签最长 64 个字符 / a tag is at most 64 characters")
		}
	}
	return nil
}

// ---- plans ----

// PlanRequest creates or changes a plan; absent fields keep their value.
type PlanRequest struct {
	Name            *string   `json:"name"`
	YearlyPrice     *int64    `json:"yearly_price"` // fen (分)
	MaxMiniPrograms *int      `json:"max_mini_programs"`
	Features        *[]string `json:"features"`
}

func (r PlanRequest) apply(p *wxfleet.Plan) error {
	if r.Name != nil {
		n, err := checkText("name", *r.Name, true, 64)
		if err != nil {
			return err
		}
		p.Name = n
	}
	if r.YearlyPrice != nil {
		if *r.YearlyPrice < 0 {
			return invalid("yearly_price 不能为负 / yearly_price cannot be negative")
		}
		p.YearlyPrice = *r.YearlyPrice
	}
	if r.MaxMiniPrograms != nil {
		if *r.MaxMiniPrograms < 0 {
			return invalid("max_mini_programs 不能为负（0 表示不限）/ max_mini_programs cannot be negative (0: no cap)")
		}
		p.MaxMiniPrograms = *r.MaxMiniPrograms
	}
	if r.Features != nil {
		if err := checkTags(*r.Features); err != nil {
			return err
		}
		p.Features = normList(*r.Features)
	}
	return nil
}

func normList(v []string) []string {
	out := []string{}
	for _, s := range v {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CreatePlan makes a plan.
func (s *Service) CreatePlan(ctx context.Context, sc wxfleet.Scope, req PlanRequest) (*wxfleet.Plan, error) {
	if req.Name == nil {
		return nil, invalid("缺少 name / name is required")
	}
	now := s.Now()
	p := &wxfleet.Plan{Features: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := req.apply(p); err != nil {
		return nil, err
	}
	if err := s.Store.CreatePlan(ctx, sc, p); err != nil {
		return nil, err
	}
	return p, nil
}

// UpdatePlan changes the fields req names.
func (s *Service) UpdatePlan(ctx context.Context, sc wxfleet.Scope, id int64, req PlanRequest) (*wxfleet.Plan, error) {
	p, err := s.Store.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := req.apply(p); err != nil {
		return nil, err
	}
	p.UpdatedAt = s.Now()
	if err := s.Store.UpdatePlan(ctx, sc, p); err != nil {
		return nil, err
	}
	return p, nil
}

// ---- tenants ----

// CreateRequest makes a tenant.
type CreateRequest struct {
	Name    string               `json:"name"`
	Contact string               `json:"contact"`
	PlanID  int64                `json:"plan_id"`
	Tags    []string             `json:"tags"`
	Status  wxfleet.TenantStatus `json:"status"` // "" → trial
}

// Create makes a tenant.
func (s *Service) Create(ctx context.Context, sc wxfleet.Scope, req CreateRequest) (*wxfleet.Tenant, error) {
	name, err := checkText("name", req.Name, true, 128)
	if err != nil {
		return nil, err
	}
	contact, err := checkText("contact", req.Contact, false, 256)
	if err != nil {
		return nil, err
	}
	if err := checkTags(req.Tags); err != nil {
		return nil, err
	}
	if req.Status == "" {
		req.Status = wxfleet.TenantTrial
	}
	if _, err := wxfleet.ParseTenantStatus(string(req.Status)); err != nil {
		return nil, err
	}
	now := s.Now()
	t := &wxfleet.Tenant{Name: name, Contact: contact, Status: req.Status, PlanID: req.PlanID, Tags: req.Tags, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateTenant(ctx, sc, t); err != nil {
		return nil, err
	}
	return t, nil
}

// PatchRequest changes the fields it names.
type PatchRequest struct {
	Name    *string               `json:"name"`
	Contact *string               `json:"contact"`
	Status  *wxfleet.TenantStatus `json:"status"`
	Tags    *[]string             `json:"tags"`
	PlanID  *int64                `json:"plan_id"` // 0 clears it
}

// Update changes a tenant.
func (s *Service) Update(ctx context.Context, sc wxfleet.Scope, id int64, req PatchRequest) (*wxfleet.Tenant, error) {
	t, err := s.Store.Tenant(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	if req.Name != nil {
		if t.Name, err = checkText("name", *req.Name, true, 128); err != nil {
			return nil, err
		}
	}
	if req.Contact != nil {
		if t.Contact, err = checkText("contact", *req.Contact, false, 256); err != nil {
			return nil, err
		}
	}
	if req.Status != nil {
		if t.Status, err = wxfleet.ParseTenantStatus(string(*req.Status)); err != nil {
			return nil, err
		}
	}
	if req.Tags != nil {
		if err := checkTags(*req.Tags); err != nil {
			return nil, err
		}
		t.Tags = *req.Tags
	}
	if req.PlanID != nil {
		t.PlanID = *req.PlanID
	}
	t.UpdatedAt = s.Now()
	if err := s.Store.UpdateTenant(ctx, sc, t); err != nil {
		return nil, err
	}
	return s.Store.Tenant(ctx, sc, id)
}

// Settings returns a tenant's runtime settings.
func (s *Service) Settings(ctx context.Context, sc wxfleet.Scope, id int64) (json.RawMessage, error) {
	v, err := s.Store.TenantSettings(ctx, sc, id)
	return json.RawMessage(v), err
}

// SetSettings replaces a tenant's runtime settings: a JSON object of at most
// MaxSettingsBytes, stored compacted.
func (s *Service) SetSettings(ctx context.Context, sc wxfleet.Scope, id int64, raw []byte) (json.RawMessage, error) {
	v, err := CheckSettings(raw)
	if err != nil {
		// Another tenant's (or a missing one) is not found, whatever its
		// input: a bad input must not tell that the tenant exists.
		if _, terr := s.Store.Tenant(ctx, sc, id); terr != nil {
			return nil, terr
		}
		return nil, err
	}
	if err := s.Store.SetTenantSettings(ctx, sc, id, v, s.Now()); err != nil {
		return nil, err
	}
	return v, nil
}

// CheckSettings validates runtime settings and returns them compacted.
func CheckSettings(raw []byte) (json.RawMessage, error) {
	if len(raw) > MaxSettingsBytes {
		return nil, wxfleet.Errorf(wxfleet.ETOOLARGE, "设置最大 %d 字节 / settings are at most %d bytes", MaxSettingsBytes, MaxSettingsBytes)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, invalid("设置必须是一个 JSON 对象 / settings must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalid("设置必须是一个 JSON 对象 / settings must be a JSON object")
	}
	return buf.Bytes(), nil
}

// Detail is a tenant with what the API shows beside it.
type Detail struct {
	*wxfleet.Tenant
	Apps         []store.TenantApp
	Plan         *wxfleet.Plan         // nil: none
	Subscription *wxfleet.Subscription // nil: none
	OpenLinks    int
}

// Get returns a tenant with its mini programs, plan and subscription.
func (s *Service) Get(ctx context.Context, sc wxfleet.Scope, id int64) (*Detail, error) {
	t, err := s.Store.Tenant(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	d := &Detail{Tenant: t}
	if d.Apps, err = s.Store.TenantAuthorizers(ctx, sc, id); err != nil {
		return nil, err
	}
	if t.PlanID != 0 {
		if d.Plan, err = s.Store.Plan(ctx, t.PlanID); err != nil {
			return nil, err
		}
	}
	if d.Subscription, err = s.Store.Subscription(ctx, sc, id); wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		d.Subscription, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, d.OpenLinks, err = s.Store.CountTenantApps(ctx, sc, id, s.Now()); err != nil {
		return nil, err
	}
	return d, nil
}

// CreateLink makes an authorization link for the tenant on the platform: a
// mini program authorized through it lands on the tenant. A closed or
// suspended tenant gets none, and neither does one whose plan's cap of mini
// programs is reached.
func (s *Service) CreateLink(ctx context.Context, sc wxfleet.Scope, id int64, componentAppID string, req authorization.LinkRequest) (*authorization.Link, error) {
	t, err := s.Store.Tenant(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	if t.Status.Blocked() {
		return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "租户 %d 状态为 %s，不能再授权小程序 / tenant %d is %s: it cannot authorize mini programs", id, t.Status, id, t.Status)
	}
	if err := s.checkCap(ctx, sc, id); err != nil {
		return nil, err
	}
	req.TenantID = id
	return s.Links.CreateLink(ctx, componentAppID, req)
}

// AssignApp puts an authorizer under a tenant (0: under none), as an
// operator does for a mini program authorized before tenants existed. A
// tenant at its plan's cap takes no further authorized app.
func (s *Service) AssignApp(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string, tenantID int64) (*wxfleet.Authorizer, error) {
	a, err := s.Store.Authorizer(ctx, componentAppID, appID)
	if err != nil {
		return nil, err
	}
	if tenantID != 0 && tenantID != a.TenantID && a.Status == wxfleet.StatusAuthorized {
		if err := s.checkCap(ctx, sc, tenantID); err != nil {
			return nil, err
		}
	}
	if err := s.Store.SetAuthorizerTenant(ctx, sc, componentAppID, appID, tenantID); err != nil {
		return nil, err
	}
	return s.Store.Authorizer(ctx, componentAppID, appID)
}

// checkCap refuses when the tenant's plan allows no further mini program.
func (s *Service) checkCap(ctx context.Context, sc wxfleet.Scope, id int64) error {
	t, err := s.Store.Tenant(ctx, sc, id)
	if err != nil || t.PlanID == 0 {
		return err
	}
	p, err := s.Store.Plan(ctx, t.PlanID)
	if err != nil {
		return err
	}
	n, _, err := s.Store.CountTenantApps(ctx, sc, id, s.Now())
	if err != nil {
		return err
	}
	if !p.AllowsMore(n) {
		return wxfleet.Errorf(wxfleet.ECONFLICT,
			"租户 %d 的套餐「%s」最多 %d 个小程序，已授权 %d 个：请升级套餐 / tenant %d's plan %q allows %d mini programs and %d are authorized: upgrade the plan first",
			id, p.Name, p.MaxMiniPrograms, n, id, p.Name, p.MaxMiniPrograms, n)
	}
	return nil
}

// ---- subscriptions ----

// SubscribeRequest starts a term: from StartsAt (default now) to ExpiresAt,
// or for Years (default 1).
type SubscribeRequest struct {
	PlanID    int64      `json:"plan_id"`
	StartsAt  *time.Time `json:"starts_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	Years     int        `json:"years"`
}

// Term is the subscription Subscribe would set on tenant id for req at now,
// checked as Subscribe checks it (the plan must exist); nothing is saved.
// The console shows it to ask before a term is replaced.
func (s *Service) Term(ctx context.Context, id int64, req SubscribeRequest, now time.Time) (*wxfleet.Subscription, error) {
	if req.PlanID == 0 {
		return nil, invalid("缺少 plan_id / plan_id is required")
	}
	if req.ExpiresAt != nil && req.Years != 0 {
		return nil, invalid("expires_at 与 years 只能给一个 / give expires_at or years, not both")
	}
	if req.Years < 0 || req.Years > 10 {
		return nil, invalid("years 须在 1 到 10 之间 / years must be from 1 to 10")
	}
	if _, err := s.Store.Plan(ctx, req.PlanID); err != nil {
		return nil, err
	}
	sub := &wxfleet.Subscription{TenantID: id, PlanID: req.PlanID, StartsAt: now, UpdatedAt: now}
	if req.StartsAt != nil {
		sub.StartsAt = req.StartsAt.UTC()
	}
	switch {
	case req.ExpiresAt != nil:
		sub.ExpiresAt = req.ExpiresAt.UTC()
	case req.Years > 0:
		sub.ExpiresAt = sub.StartsAt.AddDate(req.Years, 0, 0)
	default:
		sub.ExpiresAt = sub.StartsAt.AddDate(1, 0, 0)
	}
	if !sub.ExpiresAt.After(sub.StartsAt) {
		return nil, invalid("订阅的到期时间须晚于开始时间 / a subscription must expire after it starts")
	}
	return sub, nil
}

// Subscribe puts the tenant on a plan for a term (Term). A trial or
// suspended tenant whose new term is running becomes active.
func (s *Service) Subscribe(ctx context.Context, sc wxfleet.Scope, id int64, req SubscribeRequest) (*wxfleet.Subscription, error) {
	now := s.Now()
	sub, err := s.Term(ctx, id, req, now)
	if err != nil {
		return nil, err
	}
	if err := s.Store.SetSubscription(ctx, sc, sub); err != nil {
		return nil, err
	}
	if !now.Before(sub.StartsAt) && now.Before(sub.ExpiresAt) {
		if _, err := s.Store.SetTenantStatus(ctx, sc, id, []wxfleet.TenantStatus{wxfleet.TenantTrial, wxfleet.TenantSuspended}, wxfleet.TenantActive, now, nil); err != nil {
			return nil, err
		}
	}
	return s.Store.Subscription(ctx, sc, id)
}

// Renew extends the tenant's term by years (from its expiry, or from now if
// it lapsed); a suspended tenant is active again.
func (s *Service) Renew(ctx context.Context, sc wxfleet.Scope, id int64, years int) (*wxfleet.Subscription, error) {
	if years == 0 {
		years = 1
	}
	return s.Store.RenewSubscription(ctx, sc, id, years, s.Now(), nil)
}
