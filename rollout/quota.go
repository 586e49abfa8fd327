package rollout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wechat"
)

// quotaTTL is how long a platform's queryquota answer is trusted; the
// submissions made meanwhile are counted against it.
const quotaTTL = time.Minute

// quotaCache remembers each platform's monthly audit quota (queryquota), so
// that a rollout waits for it instead of failing apps with 85085.
type quotaCache struct {
	mu sync.Mutex
	m  map[string]*quotaEntry // by component appid
}

type quotaEntry struct {
	rest int
	at   time.Time
}

// auditQuota returns how many submissions the platform has left this month,
// asking WeChat at most once a quotaTTL (with any of its authorizers' tokens:
// the quota is the platform's).
func (s *Service) auditQuota(ctx context.Context, componentAppID string, ts wechat.TokenSource) (int, error) {
	s.quotas.mu.Lock()
	if s.quotas.m == nil {
		s.quotas.m = map[string]*quotaEntry{}
	}
	var cached *quotaEntry
	if e := s.quotas.m[componentAppID]; e != nil {
		c := *e // a copy: tookQuota changes the entry under the lock
		cached = &c
	}
	s.quotas.mu.Unlock()
	// A used-up quota is asked about again sooner: the operator may have
	// bought more, and the waiting steps should notice within a wait.
	if cached != nil {
		ttl := quotaTTL
		if cached.rest <= 0 {
			ttl = min(ttl, s.quotaWait())
		}
		if s.Now().Sub(cached.at) < ttl {
			return cached.rest, nil
		}
	}
	if err := s.pace(ctx, "/wxa/queryquota"); err != nil {
		return 0, err
	}
	q, err := s.WeChat.AuditQuota(ctx, ts)
	if err != nil {
		return 0, err
	}
	s.quotas.mu.Lock()
	s.quotas.m[componentAppID] = &quotaEntry{rest: q.Rest, at: s.Now()}
	s.quotas.mu.Unlock()
	return q.Rest, nil
}

// tookQuota counts one submission against the cached quota.
func (s *Service) tookQuota(componentAppID string) {
	s.quotas.mu.Lock()
	if e := s.quotas.m[componentAppID]; e != nil && e.rest > 0 {
		e.rest--
	}
	s.quotas.mu.Unlock()
}

// quotaReason is the rollout's status reason while it waits for audit quota.
func quotaReason(rest int) string {
	return fmt.Sprintf("等待审核配额：本月剩余 %d 次，下月或加购后继续 / waiting for audit quota: %d submissions left this month; goes on when more are available", rest, rest)
}

// waitForQuota is what a submit step does when the platform has no audit
// quota left: the rollout says so and the step comes back later, failing no app.
func (st *step) waitForQuota(ctx context.Context, rest int) error {
	reason := quotaReason(rest)
	if st.r.StatusReason != reason {
		st.s.Store.SetRolloutStatus(ctx, st.r.ComponentAppID, st.r.ID, []wxfleet.RolloutStatus{wxfleet.RolloutRunning},
			wxfleet.RolloutRunning, reason, st.s.Now(), nil)
	}
	st.s.observe(stepSubmit, "quota_wait")
	return river.JobSnooze(4 * st.s.quotaWait())
}

// quotaCleared clears the waiting reason once submissions go through again.
func (st *step) quotaCleared(ctx context.Context) {
	if !strings.HasPrefix(st.r.StatusReason, "等待审核配额") {
		return
	}
	st.s.Store.SetRolloutStatus(ctx, st.r.ComponentAppID, st.r.ID, []wxfleet.RolloutStatus{wxfleet.RolloutRunning},
		wxfleet.RolloutRunning, "", st.s.Now(), nil)
}

// AuditQuota is the platform's audit submissions left this month (queryquota,
// cached a minute, paced like every code call), asked with appID's token:
// the quota is the platform's, any authorized mini program can ask.
func (s *Service) AuditQuota(ctx context.Context, componentAppID, appID string) (int, error) {
	return s.auditQuota(ctx, componentAppID, s.Tokens.AuthorizerSource(componentAppID, appID))
}
