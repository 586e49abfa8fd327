package messaging

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/wechat"
)

// SyncTemplates reads a mini program's subscribe templates from WeChat
// (gettemplate), stores them and returns them with the library ids known.
func (s *Service) SyncTemplates(ctx context.Context, componentAppID, appID string) ([]*wxfleet.SubscribeTemplate, error) {
	if _, err := s.authorized(ctx, componentAppID, appID); err != nil {
		return nil, err
	}
	list, err := s.WeChat.SubscribeTemplates(ctx, s.ts(componentAppID, appID))
	if err != nil {
		return nil, wechatErr("读取订阅消息模板失败", "listing the subscribe templates failed", err)
	}
	out := make([]wxfleet.SubscribeTemplate, 0, len(list))
	for _, t := range list {
		out = append(out, fromWeChat(componentAppID, appID, t))
	}
	if err := s.Store.SyncSubscribeTemplates(ctx, componentAppID, appID, out, s.Now()); err != nil {
		return nil, err
	}
	return s.Store.SubscribeTemplates(ctx, componentAppID, appID)
}

func fromWeChat(componentAppID, appID string, t wechat.SubscribeTemplate) wxfleet.SubscribeTemplate {
	return wxfleet.SubscribeTemplate{ComponentAppID: componentAppID, AppID: appID, TemplateID: t.PriTmplID,
		Title: t.Title, Content: t.Content, Example: t.Example, Type: t.Type}
}

// AddRequest chooses a template of the public library and its keywords.
type AddRequest struct {
	TID       int
	KIDs      []int
	SceneDesc string
}

func (r AddRequest) check() error {
	if r.TID <= 0 {
		return wxfleet.Errorf(wxfleet.EINVALID, "tid 须是库中模板的编号 / tid must name a template of the library")
	}
	if len(r.KIDs) < 2 || len(r.KIDs) > 5 {
		return wxfleet.Errorf(wxfleet.EINVALID, "kid_list 须有 2 到 5 个关键词 / kid_list must name 2 to 5 keywords")
	}
	return nil
}

// AddTemplate adds a library template to one mini program.
func (s *Service) AddTemplate(ctx context.Context, componentAppID, appID string, r AddRequest) (*wxfleet.SubscribeTemplate, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if _, err := s.authorized(ctx, componentAppID, appID); err != nil {
		return nil, err
	}
	id, err := s.WeChat.AddSubscribeTemplate(ctx, s.ts(componentAppID, appID), r.TID, r.KIDs, r.SceneDesc)
	if err != nil {
		return nil, wechatErr("添加订阅消息模板失败", "adding the subscribe template failed", err)
	}
	return s.adopt(ctx, componentAppID, appID, id, r.TID)
}

// adopt stores a template just added (with its library id), read back from
// WeChat's list for its title and content.
func (s *Service) adopt(ctx context.Context, componentAppID, appID, templateID string, tid int) (*wxfleet.SubscribeTemplate, error) {
	t := wxfleet.SubscribeTemplate{ComponentAppID: componentAppID, AppID: appID, TemplateID: templateID, TID: tid, Type: wechat.SubscribeOneTime}
	if list, err := s.WeChat.SubscribeTemplates(ctx, s.ts(componentAppID, appID)); err == nil {
		for _, w := range list {
			if w.PriTmplID == templateID {
				t = fromWeChat(componentAppID, appID, w)
				t.TID = tid
			}
		}
	}
	if err := s.Store.PutSubscribeTemplate(ctx, t, s.Now()); err != nil {
		return nil, err
	}
	return &t, nil
}

// Library lists the public library's categories, and with categoryIDs a
// page of their templates (WeChat pages at most 30).
func (s *Service) Library(ctx context.Context, componentAppID, appID string, categoryIDs []int, start, limit int) ([]wechat.SubscribeCategory, []wechat.PubTemplateTitle, int, error) {
	if _, err := s.authorized(ctx, componentAppID, appID); err != nil {
		return nil, nil, 0, err
	}
	ts := s.ts(componentAppID, appID)
	cats, err := s.WeChat.SubscribeCategories(ctx, ts)
	if err != nil {
		return nil, nil, 0, wechatErr("读取模板库类目失败", "listing the library's categories failed", err)
	}
	if len(categoryIDs) == 0 {
		return cats, nil, 0, nil
	}
	titles, count, err := s.WeChat.PubTemplateTitles(ctx, ts, categoryIDs, start, limit)
	if err != nil {
		return nil, nil, 0, wechatErr("读取模板库失败", "listing the library failed", err)
	}
	return cats, titles, count, nil
}

// Keywords lists a library template's keywords.
func (s *Service) Keywords(ctx context.Context, componentAppID, appID string, tid int) ([]wechat.PubTemplateKeyword, error) {
	if _, err := s.authorized(ctx, componentAppID, appID); err != nil {
		return nil, err
	}
	kws, err := s.WeChat.PubTemplateKeywords(ctx, s.ts(componentAppID, appID), tid)
	if err != nil {
		return nil, wechatErr("读取模板关键词失败", "listing the template's keywords failed", err)
	}
	return kws, nil
}

// ApplyArgs adds an apply's template to one app.
type ApplyArgs struct {
	ComponentAppID string `json:"component_appid"`
	ApplyID        int64  `json:"apply_id"`
	AppID          string `json:"appid"`
}

// Kind implements river.JobArgs.
func (ApplyArgs) Kind() string { return "subscribe_template_apply" }

// ApplyQueue is the River queue of fleet-wide applies: the rollouts' own,
// whose workers they share, so a fleet operation never starves token upkeep.
const ApplyQueue = rollout.Queue

const applyAttempts = 10

// InsertOpts keeps one waiting job per (apply, app).
func (a ApplyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: ApplyQueue, MaxAttempts: applyAttempts, Tags: []string{"app_" + a.AppID},
		UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Apply adds one library template to many mini programs: the apply and one
// durable River job per app commit together; the jobs call WeChat at Rate.
// The keywords are read from the library through the first app, so a bad
// tid or kid is refused before anything is enqueued.
func (s *Service) Apply(ctx context.Context, componentAppID string, r AddRequest, appIDs []string) (*wxfleet.SubscribeApply, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	slices.Sort(appIDs)
	appIDs = slices.Compact(appIDs)
	if len(appIDs) == 0 {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "appids 为空 / appids is empty")
	}
	for _, id := range appIDs {
		if _, err := s.authorized(ctx, componentAppID, id); err != nil {
			return nil, err
		}
	}
	kws, err := s.Keywords(ctx, componentAppID, appIDs[0], r.TID)
	if err != nil {
		return nil, err
	}
	a := &wxfleet.SubscribeApply{ComponentAppID: componentAppID, TID: r.TID, KIDs: r.KIDs, SceneDesc: r.SceneDesc, CreatedAt: s.Now()}
	for _, kid := range r.KIDs {
		i := slices.IndexFunc(kws, func(k wechat.PubTemplateKeyword) bool { return k.KID == kid })
		if i < 0 {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "模板 %d 没有关键词 %d / template %d has no keyword %d", r.TID, kid, r.TID, kid)
		}
		a.Keywords = append(a.Keywords, wxfleet.SubscribeKeyword{Name: kws[i].Name, Key: kws[i].Rule + strconv.Itoa(kid)})
	}
	err = s.Store.CreateSubscribeApply(ctx, a, appIDs, func(ctx context.Context, tx *sql.Tx) error {
		params := make([]river.InsertManyParams, 0, len(appIDs))
		for _, id := range appIDs {
			args := ApplyArgs{ComponentAppID: componentAppID, ApplyID: a.ID, AppID: id}
			opts := args.InsertOpts()
			params = append(params, river.InsertManyParams{Args: args, InsertOpts: &opts})
		}
		return s.Jobs().InsertManyTx(ctx, tx, params)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// ApplyWorker works ApplyArgs.
type ApplyWorker struct {
	river.WorkerDefaults[ApplyArgs]
	Service *Service
}

// Timeout bounds one app: two or three WeChat calls with their retries.
func (w *ApplyWorker) Timeout(*river.Job[ApplyArgs]) time.Duration { return 2 * time.Minute }

// Work adds the template to the app unless it is decided. Before adding it
// asks WeChat for the app's templates: one with the same keywords is the
// one an earlier attempt added (its answer lost), and is taken instead of
// adding a second.
func (w *ApplyWorker) Work(ctx context.Context, job *river.Job[ApplyArgs]) error {
	s, a := w.Service, job.Args
	app, err := s.Store.SubscribeApplyApp(ctx, a.ComponentAppID, a.ApplyID, a.AppID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return river.JobCancel(err)
	}
	if err != nil || app.Status != wxfleet.ApplyPending {
		return err
	}
	apply, err := s.Store.SubscribeApply(ctx, a.ComponentAppID, a.ApplyID)
	if err != nil {
		return err
	}
	id, err := w.add(ctx, apply, a.AppID, job.Attempt > 1)
	last := job.Attempt >= job.MaxAttempts
	if err != nil && transient(err) && !last {
		return err
	}
	p := wxfleet.SubscribeApplyApp{AppID: a.AppID, Status: wxfleet.ApplyAdded, TemplateID: id, UpdatedAt: s.Now()}
	if err != nil {
		p.Status, p.Error = wxfleet.ApplyFailed, err.Error()
	}
	_, ferr := s.Store.FinishSubscribeApplyApp(ctx, a.ComponentAppID, a.ApplyID, p)
	return ferr
}

func (w *ApplyWorker) add(ctx context.Context, apply *wxfleet.SubscribeApply, appID string, retry bool) (string, error) {
	s := w.Service
	if _, err := s.authorized(ctx, apply.ComponentAppID, appID); err != nil {
		return "", err
	}
	ts := s.ts(apply.ComponentAppID, appID)
	if retry {
		list, err := s.WeChat.SubscribeTemplates(ctx, ts)
		if err != nil {
			return "", err
		}
		for _, t := range list {
			if sameKeywords(t.Content, apply.Keywords) {
				_, err := s.adopt(ctx, apply.ComponentAppID, appID, t.PriTmplID, apply.TID)
				return t.PriTmplID, err
			}
		}
	}
	if err := s.pace(ctx, "/wxaapi/newtmpl/addtemplate"); err != nil {
		return "", err
	}
	id, err := s.WeChat.AddSubscribeTemplate(ctx, ts, apply.TID, apply.KIDs, apply.SceneDesc)
	if err != nil {
		return "", wechatErr("添加订阅消息模板失败", "adding the subscribe template failed", err)
	}
	_, err = s.adopt(ctx, apply.ComponentAppID, appID, id, apply.TID)
	return id, err
}

// contentKey matches "name:{{key.DATA}}" in a template's content.
var contentKey = regexp.MustCompile(`([^\n:：]+)[:：]\s*\{\{([A-Za-z_]+[0-9]+)\.DATA\}\}`)

// sameKeywords tells whether a template's content has exactly these keywords.
func sameKeywords(content string, kws []wxfleet.SubscribeKeyword) bool {
	var have, want []string
	for _, m := range contentKey.FindAllStringSubmatch(content, -1) {
		have = append(have, strings.TrimSpace(m[1])+"="+m[2])
	}
	for _, k := range kws {
		want = append(want, k.Name+"="+k.Key)
	}
	sort.Strings(have)
	sort.Strings(want)
	return len(want) > 0 && slices.Equal(have, want)
}

// ApplyStatus is a fleet-wide apply and where each app stands.
type ApplyStatus struct {
	Apply  *wxfleet.SubscribeApply
	Apps   []wxfleet.SubscribeApplyApp
	Counts map[string]int
}

// ApplyStatusOf returns a fleet-wide apply with its apps.
func (s *Service) ApplyStatusOf(ctx context.Context, componentAppID string, id int64) (*ApplyStatus, error) {
	a, err := s.Store.SubscribeApply(ctx, componentAppID, id)
	if err != nil {
		return nil, err
	}
	apps, err := s.Store.SubscribeApplyApps(ctx, componentAppID, id)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{wxfleet.ApplyPending: 0, wxfleet.ApplyAdded: 0, wxfleet.ApplyFailed: 0}
	for _, p := range apps {
		counts[p.Status]++
	}
	return &ApplyStatus{Apply: a, Apps: apps, Counts: counts}, nil
}

// SubscribeSend is a subscribe message to send.
type SubscribeSend struct {
	OpenID     string
	TemplateID string
	Data       map[string]string
	Page       string
	State      string
	Lang       string
}

// SendSubscribe sends a subscribe message. It takes one of the user's
// consents first (refusing without one: WeChat would answer 43101), gives it
// back when WeChat refused for another reason, drops them when WeChat says
// the user has none, and keeps it used when the outcome is unknown (a lost
// answer may have been a delivery).
func (s *Service) SendSubscribe(ctx context.Context, componentAppID, appID string, r SubscribeSend) (int64, error) {
	if r.OpenID == "" || r.TemplateID == "" || len(r.Data) == 0 {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "需要 openid、template_id 与 data / openid, template_id and data are required")
	}
	if _, err := s.authorized(ctx, componentAppID, appID); err != nil {
		return 0, err
	}
	t, err := s.Store.SubscribeTemplate(ctx, componentAppID, appID, r.TemplateID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		if _, err = s.SyncTemplates(ctx, componentAppID, appID); err == nil {
			t, err = s.Store.SubscribeTemplate(ctx, componentAppID, appID, r.TemplateID)
		}
	}
	if err != nil {
		return 0, err
	}
	now := s.Now()
	took, err := s.Store.TakeConsent(ctx, componentAppID, appID, r.OpenID, r.TemplateID, now)
	if err != nil {
		return 0, err
	}
	if !took {
		if refused, err := s.Store.ConsentRefused(ctx, componentAppID, appID, r.OpenID, r.TemplateID); err != nil {
			return 0, err
		} else if refused {
			return 0, wxfleet.Errorf(wxfleet.EFORBIDDEN, "用户已在设置中对模板「%s」选择拒收：须等用户在订阅弹窗中重新同意（微信会以 43101 拒绝） / the user turned template %q off in the settings: wait for them to accept it in the subscribe popup again (WeChat would refuse with 43101)",
				t.Title, r.TemplateID)
		}
		return 0, wxfleet.Errorf(wxfleet.EFORBIDDEN, "用户没有同意接收模板「%s」，或同意的次数已用完：须等用户在订阅弹窗中再次同意（微信会以 43101 拒绝） / the user has not accepted template %q (or used up the sends they accepted): wait for them to accept it in the subscribe popup again (WeChat would refuse with 43101)",
			t.Title, r.TemplateID)
	}
	data := make(map[string]wechat.SubscribeValue, len(r.Data))
	keys := make([]string, 0, len(r.Data))
	for k, v := range r.Data {
		data[k] = wechat.SubscribeValue{Value: v}
		keys = append(keys, k)
	}
	msgID, err := s.WeChat.SendSubscribeMessage(ctx, s.ts(componentAppID, appID), wechat.SubscribeMessage{
		ToUser: r.OpenID, TemplateID: r.TemplateID, Page: r.Page, Data: data, State: r.State, Lang: r.Lang})
	if err != nil {
		var back error
		switch code, refused := wechatCode(err); {
		case refused && code == wechat.CodeNoSubscription:
			back = s.Store.ReturnConsent(ctx, componentAppID, appID, r.OpenID, r.TemplateID, true, now)
		case refused && !transient(err):
			back = s.Store.ReturnConsent(ctx, componentAppID, appID, r.OpenID, r.TemplateID, false, now)
		}
		if back != nil {
			s.Logger.ErrorContext(ctx, "returning a subscribe consent failed", "appid", appID, "err", back)
		}
		return 0, wechatErr("微信拒绝了这条订阅消息", "WeChat refused the subscribe message", err)
	}
	sort.Strings(keys)
	var text strings.Builder
	text.WriteString(t.Title)
	for _, k := range keys {
		fmt.Fprintf(&text, " %s=%s", k, r.Data[k])
	}
	m := &wxfleet.ConversationMessage{ComponentAppID: componentAppID, AppID: appID, OpenID: r.OpenID,
		Direction: wxfleet.DirectionOut, MsgType: "subscribe", Content: text.String(), CreatedAt: s.Now(),
		WeChatMsgID: strconv.FormatInt(msgID, 10)}
	if _, err := s.Store.AddConversationMessage(ctx, m); err != nil {
		s.Logger.ErrorContext(ctx, "subscribe message sent but not stored", "appid", appID, "err", err)
	}
	return msgID, nil
}

// wechatCode returns WeChat's errcode when err is WeChat's refusal.
func wechatCode(err error) (int, bool) {
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.Code, true
	}
	return 0, false
}
