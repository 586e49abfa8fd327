package rollout

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/webhook"
)

// The events rollouts send out (webhooks): every audit result, once — with
// the move out of auditing of the rollout app it decides, whichever of the
// push and the poll made that move; from the push alone for an app no
// rollout waits for (a submission made outside rollouts) — and every app a
// rollout released.

// AuditData is the data of the audit.* events.
type AuditData struct {
	AppID      string `json:"appid"`
	Result     string `json:"result"` // success, fail, delay
	Reason     string `json:"reason,omitempty"`
	ScreenShot string `json:"screenshot,omitempty"` // media ids, "|"-separated, as WeChat gives them
	// Source is "push" (WeChat's push) or "poll" (a rollout asked before
	// the push came, or the push was lost).
	Source    string `json:"source"`
	AuditID   int64  `json:"auditid,omitempty"`    // known when a rollout made the submission
	RolloutID int64  `json:"rollout_id,omitempty"` // the rollout waiting for it, if any
	Time      int64  `json:"time,omitempty"`       // WeChat's SuccTime / FailTime / DelayTime (unix seconds)
}

// ReleaseData is release.done's data.
type ReleaseData struct {
	AppID          string    `json:"appid"`
	RolloutID      int64     `json:"rollout_id"`
	TemplateID     int64     `json:"template_id"`
	UserVersion    string    `json:"user_version"`
	GrayPercentage int       `json:"gray_percentage,omitempty"` // a gray release to this share of users
	ReleasedAt     time.Time `json:"released_at"`
}

var auditTypes = map[string]string{
	"weapp_audit_success": webhook.AuditSuccess,
	"weapp_audit_fail":    webhook.AuditFail,
	"weapp_audit_delay":   webhook.AuditDelay,
}

// auditDecidedWindow is how long before a push's CreateTime a rollout's
// poll may have decided the same audit (clocks differ a little; the poll
// cannot know the result before WeChat made it).
const auditDecidedWindow = 5 * time.Minute

// pushedAuditEvent sends out an audit result WeChat pushed, unless a
// rollout's move sent it: moved (the push moved rollout apps now), or a
// poll moved one for this app shortly before. audit.delay moves nothing and
// always goes out here. WeChat's retries of the push make one event.
func (s *Service) pushedAuditEvent(ctx context.Context, p push.Push, moved bool) error {
	typ, ok := auditTypes[p.Message.Get("Event")]
	if s.Events == nil || !ok {
		return nil
	}
	ev, msg := p.Event, p.Message
	if typ != webhook.AuditDelay {
		if moved {
			return nil
		}
		since := ev.CreateTime
		if since.IsZero() {
			since = s.Now()
		}
		polled, err := s.Store.AuditDecidedSince(ctx, ev.ComponentAppID, ev.AppID, since.Add(-auditDecidedWindow))
		if err != nil || polled {
			return err
		}
	}
	d := AuditData{AppID: ev.AppID, Result: typ[len("audit."):], Reason: msg.Get("Reason"), ScreenShot: msg.Get("ScreenShot"), Source: "push"}
	for _, f := range []string{"SuccTime", "FailTime", "DelayTime"} {
		if t := msg.Int(f); t > 0 {
			d.Time = t
		}
	}
	return s.Events.Emit(ctx, nil, webhook.Event{ID: webhook.EventID(typ, ev.ComponentAppID, ev.AppID, ev.DedupKey),
		Type: typ, ComponentAppID: ev.ComponentAppID, AppID: ev.AppID, Data: d})
}

// auditEvent is the Then that sends out the audit result that moves the
// app out of auditing; one event per (app, auditid, result).
func (st *step) auditEvent(typ, reason, screenshot, source string) func(ctx context.Context, tx *sql.Tx) error {
	if st.s.Events == nil {
		return nil
	}
	comp, app := st.r.ComponentAppID, st.app.AppID
	ev := webhook.Event{ID: webhook.EventID(typ, comp, app, strconv.FormatInt(st.app.AuditID, 10)), Type: typ,
		ComponentAppID: comp, AppID: app, Data: AuditData{AppID: app, Result: typ[len("audit."):], Reason: reason,
			ScreenShot: screenshot, Source: source, AuditID: st.app.AuditID, RolloutID: st.r.ID}}
	return func(ctx context.Context, tx *sql.Tx) error { return st.s.Events.Emit(ctx, tx, ev) }
}

// releaseEvent is the Then that sends out release.done with the move to
// released: one event per app and rollout.
func (st *step) releaseEvent() func(ctx context.Context, tx *sql.Tx) error {
	if st.s.Events == nil {
		return nil
	}
	r, app := st.r, st.app.AppID
	gray := 0
	if r.GrayPercentage > 0 && r.GrayPercentage < 100 {
		gray = r.GrayPercentage
	}
	ev := webhook.Event{ID: webhook.EventID(webhook.ReleaseDone, r.ComponentAppID, strconv.FormatInt(r.ID, 10), app),
		Type: webhook.ReleaseDone, ComponentAppID: r.ComponentAppID, AppID: app,
		Data: ReleaseData{AppID: app, RolloutID: r.ID, TemplateID: r.TemplateID, UserVersion: r.UserVersion,
			GrayPercentage: gray, ReleasedAt: st.s.Now().UTC()}}
	return func(ctx context.Context, tx *sql.Tx) error { return st.s.Events.Emit(ctx, tx, ev) }
}

// both runs a then b (either may be nil).
func both(a, b func(ctx context.Context, tx *sql.Tx) error) func(ctx context.Context, tx *sql.Tx) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if err := a(ctx, tx); err != nil {
			return err
		}
		return b(ctx, tx)
	}
}
