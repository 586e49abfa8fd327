package server

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/wechat"
)

// pushHandler is what the platform does with each stored push.
type pushHandler struct {
	store interface {
		SaveTicket(ctx context.Context, t *wxfleet.Ticket) error
	}
	auth     *authorization.Service
	rollouts *rollout.Service
	sealer   authorization.Sealer
	queue    func() queue.Queue
	keeper   *token.Keeper
	wechat   *wechat.Client
	now      func() time.Time
	logger   *slog.Logger
	// background runs the 全网发布 API replies; tests wait on it.
	background func(func())
}

// Component handles the authorization event URL's pushes. It runs before the
// ack, so whatever it must not lose is stored or enqueued here.
func (h *pushHandler) Component(ctx context.Context, ev *wxfleet.Event, msg push.Message, inserted bool) error {
	switch ev.Type {
	case "component_verify_ticket":
		t := &wxfleet.Ticket{
			ComponentAppID: ev.ComponentAppID,
			Value:          wxfleet.Secret(msg.Get("ComponentVerifyTicket")),
			CreateTime:     msg.Time("CreateTime"),
			ReceivedAt:     ev.ReceivedAt,
		}
		if t.Value == "" {
			h.logger.Warn("component_verify_ticket push without a ticket", "component_appid", ev.ComponentAppID)
			return nil
		}
		if t.CreateTime.IsZero() {
			t.CreateTime = ev.ReceivedAt
		}
		return h.store.SaveTicket(ctx, t)
	case "authorized", "updateauthorized":
		code := msg.Get("AuthorizationCode")
		if code == "" || ev.AppID == "" {
			h.logger.Warn("authorization push without code or appid", "component_appid", ev.ComponentAppID, "type", ev.Type)
			return nil
		}
		return h.queue().Insert(ctx, authorization.CompleteArgs{
			ComponentAppID:  ev.ComponentAppID,
			AuthorizerAppID: ev.AppID,
			SealedCode:      h.sealer.SealString(code),
			PreAuthCode:     msg.Get("PreAuthCode"),
			CreateTime:      ev.CreateTime,
		}, nil)
	case "unauthorized":
		return h.auth.Revoke(ctx, ev.ComponentAppID, ev.AppID)
	default:
		// notify_third_fasteregister and friends are recorded; later features act on them.
		return nil
	}
}

// 全网发布 test accounts: WeChat picks one at random during the release check.
var releaseCheckAccounts = map[string]bool{
	"wx570bc396a51b8ff8": true, // official account gh_3c884a361561
	"wxd101a85aa106f53e": true, // mini program gh_8dad206e9538
}

// Message handles the message URL's pushes. Ordinary messages are only
// recorded; the 全网发布 test accounts get the answers WeChat's check expects.
func (h *pushHandler) Message(ctx context.Context, ev *wxfleet.Event, msg push.Message, inserted bool) ([]byte, error) {
	if msg.Get("MsgType") == "event" && strings.HasPrefix(msg.Get("Event"), "weapp_audit_") {
		// A rollout waiting for this app's audit moves on now; a lost push is
		// caught by the rollout's poll.
		return nil, h.rollouts.HandleAuditEvent(ctx, ev.ComponentAppID, ev.AppID, msg.Get("Event"), msg.Get("Reason"), msg.Get("ScreenShot"))
	}
	if !releaseCheckAccounts[ev.AppID] {
		return nil, nil
	}
	from, to := msg.Get("FromUserName"), msg.Get("ToUserName")
	switch msg.Get("MsgType") {
	case "event":
		return textReply(from, to, msg.Get("Event")+"from_callback", h.now()), nil
	case "text":
		content := msg.Get("Content")
		if content == "TESTCOMPONENT_MSG_TYPE_TEXT" {
			return textReply(from, to, "TESTCOMPONENT_MSG_TYPE_TEXT_callback", h.now()), nil
		}
		if code, ok := strings.CutPrefix(content, "QUERY_AUTH_CODE:"); ok && inserted {
			// Answer empty now; send the customer-service message within 5 s.
			comp := ev.ComponentAppID
			h.background(func() { h.releaseCheckReply(comp, code, from) })
		}
	}
	return nil, nil
}

func (h *pushHandler) releaseCheckReply(comp, code, openid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := h.wechat.QueryAuth(ctx, h.keeper.ComponentSource(comp), comp, code)
	if err != nil {
		h.logger.Error("release check: api_query_auth failed", "component_appid", comp, "err", err)
		return
	}
	err = h.wechat.SendCustomMessage(ctx, wechat.StaticToken(info.AccessToken), wechat.TextMessage(openid, code+"_from_api"))
	if err != nil {
		h.logger.Error("release check: custom message failed", "component_appid", comp, "err", err)
		return
	}
	h.logger.Info("release check: answered QUERY_AUTH_CODE", "component_appid", comp, "appid", info.AuthorizerAppID)
}

// textReply builds a passive text reply, To and From swapped.
func textReply(to, from, content string, now time.Time) []byte {
	var b strings.Builder
	b.WriteString("<xml><ToUserName><![CDATA[")
	b.WriteString(to)
	b.WriteString("]]></ToUserName><FromUserName><![CDATA[")
	b.WriteString(from)
	b.WriteString("]]></FromUserName><CreateTime>")
	b.WriteString(itoa(now.Unix()))
	b.WriteString("</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[")
	b.WriteString(strings.ReplaceAll(content, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]></Content></xml>")
	return []byte(b.String())
}
