// Package messaging is how a platform talks with its mini programs' users:
// customer service (客服: the users' messages from the pushes, a conversation
// per user, replies inside WeChat's 48-hour window, typing) and subscribe
// messages (订阅消息: each mini program's templates from the public library,
// added fleet-wide as River jobs, and sends that need the user's consent
// from the 订阅 popup). Wire formats: docs/wechat-capabilities.md.
package messaging

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/wechat"
)

// Store is what messaging reads and writes.
type Store interface {
	Authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error)
	ReserveSlot(ctx context.Context, name string, interval time.Duration, now time.Time, maxAhead time.Duration) (time.Time, bool, error)

	AddConversationMessage(ctx context.Context, m *wxfleet.ConversationMessage) (bool, error)
	AddConversationMessages(ctx context.Context, ms []*wxfleet.ConversationMessage) ([]bool, error)
	Conversation(ctx context.Context, sc wxfleet.Scope, componentAppID, appID, openID string) (*wxfleet.Conversation, error)
	UserWrites(ctx context.Context, componentAppID, appID, openID string, since time.Time) (lastMessage, lastEntry time.Time, err error)
	ListConversations(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string, limit int, cursor string) ([]*wxfleet.Conversation, int, error)
	ConversationMessages(ctx context.Context, sc wxfleet.Scope, componentAppID, appID, openID string, before int64, limit int) ([]*wxfleet.ConversationMessage, error)

	ApplySubscribePopup(ctx context.Context, componentAppID, appID, openID, pushKey string, changes []store.ConsentChange, now time.Time) (bool, error)
	ApplySubscribeChange(ctx context.Context, componentAppID, appID, openID, pushKey string, changes []store.ConsentChange, now time.Time) (bool, error)
	RecordSubscribeDeliveries(ctx context.Context, componentAppID, appID, openID, pushKey string, reports []store.SubscribeDeliveryReport, now time.Time) (bool, error)
	ConsentRefused(ctx context.Context, componentAppID, appID, openID, templateID string) (bool, error)
	TakeConsent(ctx context.Context, componentAppID, appID, openID, templateID string, now time.Time) (bool, error)
	ReturnConsent(ctx context.Context, componentAppID, appID, openID, templateID string, clear bool, now time.Time) error
	Consents(ctx context.Context, sc wxfleet.Scope, componentAppID, appID, openID string) ([]wxfleet.SubscribeConsent, error)

	MessagingEventsAfter(ctx context.Context, after int64, limit int) ([]*wxfleet.Event, error)
	MessagingCursor(ctx context.Context) (int64, error)
	SetMessagingCursor(ctx context.Context, id int64, now time.Time) error

	SyncSubscribeTemplates(ctx context.Context, componentAppID, appID string, list []wxfleet.SubscribeTemplate, now time.Time) error
	PutSubscribeTemplate(ctx context.Context, t wxfleet.SubscribeTemplate, now time.Time) error
	SubscribeTemplates(ctx context.Context, componentAppID, appID string) ([]*wxfleet.SubscribeTemplate, error)
	SubscribeTemplate(ctx context.Context, componentAppID, appID, templateID string) (*wxfleet.SubscribeTemplate, error)

	CreateSubscribeApply(ctx context.Context, a *wxfleet.SubscribeApply, appIDs []string, then store.Then) error
	SubscribeApply(ctx context.Context, componentAppID string, id int64) (*wxfleet.SubscribeApply, error)
	SubscribeApplyApps(ctx context.Context, componentAppID string, id int64) ([]wxfleet.SubscribeApplyApp, error)
	SubscribeApplyApp(ctx context.Context, componentAppID string, id int64, appID string) (*wxfleet.SubscribeApplyApp, error)
	FinishSubscribeApplyApp(ctx context.Context, componentAppID string, id int64, p wxfleet.SubscribeApplyApp) (bool, error)
}

// Tokens supplies the authorizer tokens the APIs take.
type Tokens interface {
	AuthorizerSource(componentAppID, appID string) wechat.TokenSource
}

// Jobs enqueues River jobs inside a store transaction.
type Jobs interface {
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error
}

// Service is customer service and subscribe messages.
type Service struct {
	Store  Store
	WeChat *wechat.Client
	Tokens Tokens
	Jobs   func() Jobs // set once the River client exists
	Now    func() time.Time
	Logger *slog.Logger
	// Rate bounds the addtemplate calls of fleet-wide applies, per second for
	// the whole cluster (slots reserved in the database); 0: no bound.
	Rate float64

	filerOnce sync.Once
	filer     *filer
}

func (s *Service) ts(componentAppID, appID string) wechat.TokenSource {
	return s.Tokens.AuthorizerSource(componentAppID, appID)
}

// authorized returns the authorizer when it is authorized: WeChat takes no
// call for a revoked one.
func (s *Service) authorized(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error) {
	a, err := s.Store.Authorizer(ctx, componentAppID, appID)
	if err != nil {
		return nil, err
	}
	if a.Status != wxfleet.StatusAuthorized {
		return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "小程序 %s 的授权状态是 %s，不能代它发消息 / mini program %s is %s: no messages on its behalf", appID, a.Status, appID, a.Status)
	}
	return a, nil
}

// wechatErr wraps a failed WeChat call. WeChat's refusals are the caller's
// to act on (409), with WeChat's API, errcode and errmsg in the sentence;
// anything else is WeChat being unavailable (503).
func wechatErr(zh, en string, err error) error {
	var coded *wxfleet.Error
	var we *wechat.Error
	if !errors.As(err, &we) {
		if errors.As(err, &coded) {
			return err // the keeper's own reason (revoked, reauthorization needed)
		}
		return wxfleet.WrapError(wxfleet.EUNAVAILABLE, zh+" / "+en, err)
	}
	code := wxfleet.ECONFLICT
	if transient(err) {
		code = wxfleet.EUNAVAILABLE
	}
	return wxfleet.WrapError(code, fmt.Sprintf("%s（微信接口 %s 返回 errcode %d） / %s (WeChat's %s answered errcode %d: %s)",
		zh, we.Path, we.Code, en, we.Path, we.Code, strings.TrimSpace(we.Message)), err)
}

// transient tells whether a failed call may work when tried again.
func transient(err error) bool {
	var we *wechat.Error
	if errors.As(err, &we) {
		switch we.Code {
		case wechat.CodeSystemBusy, 45009, 40001, 42001:
			return true
		}
		return false
	}
	switch wxfleet.ErrorCode(err) {
	case wxfleet.ECONFLICT, wxfleet.ENOTFOUND, wxfleet.EINVALID, wxfleet.EFORBIDDEN:
		return false
	}
	return true
}

// unfinishedStates are the job states in which another identical job is redundant.
var unfinishedStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled}

// pace waits for a slot of the fleet-wide calls to path (see Rate).
func (s *Service) pace(ctx context.Context, path string) error {
	if s.Rate <= 0 {
		return nil
	}
	const maxAhead = 10 * time.Second
	at, ok, err := s.Store.ReserveSlot(ctx, "messaging:"+path, time.Duration(float64(time.Second)/s.Rate), s.Now(), maxAhead)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(maxAhead / 2)
	}
	if d := at.Sub(s.Now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
