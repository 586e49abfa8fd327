// Package releasecheck answers WeChat's 全网发布 (release) check of a
// third-party platform: before a platform may serve every account, WeChat
// has its test accounts send events and messages to the message URL and
// expects fixed answers, one of them a customer-service message sent through
// the API within seconds. See docs/wechat-pushes.md.
package releasecheck

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/wechat"
)

// accounts are the 全网发布 test accounts: WeChat picks one at random during
// the check. Every push of theirs belongs to the check.
var accounts = []string{
	"wx570bc396a51b8ff8", // official account gh_3c884a361561
	"wxd101a85aa106f53e", // mini program gh_8dad206e9538
}

// Tokens gives the platform's component_access_token (the token keeper).
type Tokens interface {
	ComponentSource(componentAppID string) wechat.TokenSource
}

// Responder answers the check.
type Responder struct {
	WeChat *wechat.Client
	Tokens Tokens
	Now    func() time.Time
	Logger *slog.Logger
	// Background runs the API answer after the push is acknowledged; the
	// server waits for it on Close (and tests through it).
	Background func(func())
}

// RegisterPushes claims every message URL push of the test accounts.
func (r *Responder) RegisterPushes(m *push.Mux) {
	for _, appID := range accounts {
		m.HandleApp(appID, r.answer)
	}
}

// answer replies to an event with "<Event>from_callback", to the text
// TESTCOMPONENT_MSG_TYPE_TEXT with "TESTCOMPONENT_MSG_TYPE_TEXT_callback",
// and to "QUERY_AUTH_CODE:<code>" with an empty answer now and, within 5 s,
// the customer-service message "<code>_from_api".
func (r *Responder) answer(ctx context.Context, p push.Push) ([]byte, error) {
	msg := p.Message
	from, to := msg.Get("FromUserName"), msg.Get("ToUserName")
	switch msg.Get("MsgType") {
	case "event":
		return textReply(from, to, msg.Get("Event")+"from_callback", r.Now()), nil
	case "text":
		content := msg.Get("Content")
		if content == "TESTCOMPONENT_MSG_TYPE_TEXT" {
			return textReply(from, to, "TESTCOMPONENT_MSG_TYPE_TEXT_callback", r.Now()), nil
		}
		// A retry (not inserted) was answered already.
		if code, ok := strings.CutPrefix(content, "QUERY_AUTH_CODE:"); ok && p.Inserted {
			comp := p.Event.ComponentAppID
			r.Background(func() { r.sendCode(comp, code, from) })
		}
	}
	return nil, nil
}

func (r *Responder) sendCode(comp, code, openid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := r.WeChat.QueryAuth(ctx, r.Tokens.ComponentSource(comp), comp, code)
	if err != nil {
		r.Logger.Error("release check: api_query_auth failed", "component_appid", comp, "err", err)
		return
	}
	err = r.WeChat.SendCustomMessage(ctx, wechat.StaticToken(info.AccessToken), wechat.TextMessage(openid, code+"_from_api"))
	if err != nil {
		r.Logger.Error("release check: custom message failed", "component_appid", comp, "err", err)
		return
	}
	r.Logger.Info("release check: answered QUERY_AUTH_CODE", "component_appid", comp, "appid", info.AuthorizerAppID)
}

// textReply builds a passive text reply, To and From swapped.
func textReply(to, from, content string, now time.Time) []byte {
	var b strings.Builder
	b.WriteString("<xml><ToUserName><![CDATA[")
	b.WriteString(to)
	b.WriteString("]]></ToUserName><FromUserName><![CDATA[")
	b.WriteString(from)
	b.WriteString("]]></FromUserName><CreateTime>")
	b.WriteString(strconv.FormatInt(now.Unix(), 10))
	b.WriteString("</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[")
	b.WriteString(strings.ReplaceAll(content, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]></Content></xml>")
	return []byte(b.String())
}
