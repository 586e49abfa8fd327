package wxfleet

import "time"

// TenantStatus is where a tenant (租户, a merchant that subscribes to the
// ISV's generic mini program) stands.
type TenantStatus string

// Tenant statuses.
const (
	TenantTrial     TenantStatus = "trial"     // trying the product, no paid subscription yet
	TenantActive    TenantStatus = "active"    // a customer in good standing
	TenantSuspended TenantStatus = "suspended" // the subscription ran out (after its grace period) or a person suspended it
	TenantClosed    TenantStatus = "closed"    // no longer a customer; kept for its history
)

// TenantStatuses lists every status, in the order a console shows them.
func TenantStatuses() []TenantStatus {
	return []TenantStatus{TenantTrial, TenantActive, TenantSuspended, TenantClosed}
}

// Valid tells whether s is one of the statuses above.
func (s TenantStatus) Valid() bool {
	switch s {
	case TenantTrial, TenantActive, TenantSuspended, TenantClosed:
		return true
	}
	return false
}

// Blocked tells whether the tenant's mini programs are held back: rollouts
// skip them and the runtime API refuses them.
func (s TenantStatus) Blocked() bool { return s == TenantSuspended || s == TenantClosed }

// ParseTenantStatus reads a status named by a user; an unknown one is an
// EINVALID error listing the known ones.
func ParseTenantStatus(v string) (TenantStatus, error) {
	s := TenantStatus(v)
	if !s.Valid() {
		return "", Errorf(EINVALID, "未知的租户状态 %q（可选 %v）/ unknown tenant status %q (one of %v)", v, TenantStatuses(), v, TenantStatuses())
	}
	return s, nil
}

// Tenant is a customer of the ISV (租户): a merchant with a plan, the mini
// programs it authorized (authorizers carry its id) and the settings its
// mini programs read at run time.
type Tenant struct {
	ID      int64
	Name    string
	Contact string
	Status  TenantStatus
	Tags    []string // choose rollout targets, like an authorizer's own tags
	PlanID  int64    // 0: none
	// Settings is the tenant's runtime settings: a JSON object, what the
	// generic mini program reads at run time (GET /runtime/v1/config).
	Settings  []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Plan is what a tenant subscribes to (套餐): a yearly price and limits.
type Plan struct {
	ID          int64
	Name        string
	YearlyPrice int64 // in fen (分), the smallest unit of CNY
	// MaxMiniPrograms caps the tenant's authorized mini programs; 0: no cap.
	MaxMiniPrograms int
	Features        []string // names of the features the plan enables
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// AllowsMore tells whether a tenant on the plan holding n authorized mini
// programs may authorize one more.
func (p *Plan) AllowsMore(n int) bool {
	return p == nil || p.MaxMiniPrograms <= 0 || n < p.MaxMiniPrograms
}

// Subscription is a tenant's current term on a plan. Renewing extends
// ExpiresAt; a tenant has at most one subscription.
type Subscription struct {
	TenantID  int64
	PlanID    int64
	StartsAt  time.Time
	ExpiresAt time.Time
	Renewals  int // how many times the term was extended
	UpdatedAt time.Time
}

// Expired tells whether the term is over at now.
func (s *Subscription) Expired(now time.Time) bool { return s != nil && !now.Before(s.ExpiresAt) }

// Reminder kinds, recorded once per tenant and term (its ExpiresAt).
const (
	Remind30Days    = "30d"
	Remind7Days     = "7d"
	Remind1Day      = "1d"
	RemindExpired   = "expired"
	RemindSuspended = "suspended"
)
