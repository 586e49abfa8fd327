package releasecheck

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
)

// The test accounts' pushes are claimed ahead of any type handler; the
// answers are the ones WeChat's check compares (docs/wechat-pushes.md).
func TestResponderAnswersTheTestAccounts(t *testing.T) {
	var queued []func()
	r := &Responder{Now: func() time.Time { return time.Unix(1700000000, 0) }, Logger: slog.New(slog.DiscardHandler),
		Background: func(f func()) { queued = append(queued, f) }}
	m := push.NewMux(slog.New(slog.DiscardHandler))
	r.RegisterPushes(m)
	m.HandleEvent("LOCATION", func(context.Context, push.Push) ([]byte, error) { return []byte("not the check"), nil })
	send := func(appID, body string, inserted bool) string {
		msg, err := push.ParseMessage([]byte("<xml><ToUserName>gh_3c884a361561</ToUserName><FromUserName>o_test</FromUserName>" + body + "</xml>"))
		if err != nil {
			t.Fatal(err)
		}
		reply, err := m.Message(context.Background(), &wxfleet.Event{ComponentAppID: "wxcomp", AppID: appID}, msg, inserted)
		if err != nil {
			t.Fatal(err)
		}
		return string(reply)
	}
	for _, appID := range []string{"wx570bc396a51b8ff8", "wxd101a85aa106f53e"} {
		got := send(appID, "<MsgType>event</MsgType><Event>LOCATION</Event>", true)
		if !strings.Contains(got, "<Content><![CDATA[LOCATIONfrom_callback]]></Content>") ||
			!strings.Contains(got, "<ToUserName><![CDATA[o_test]]></ToUserName><FromUserName><![CDATA[gh_3c884a361561]]></FromUserName>") {
			t.Errorf("%s event: %s", appID, got)
		}
		got = send(appID, "<MsgType>text</MsgType><Content>TESTCOMPONENT_MSG_TYPE_TEXT</Content>", true)
		if !strings.Contains(got, "<Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT_callback]]></Content>") {
			t.Errorf("%s text: %s", appID, got)
		}
	}
	if got := send("wx570bc396a51b8ff8", "<MsgType>text</MsgType><Content>QUERY_AUTH_CODE:code1</Content>", true); got != "" || len(queued) != 1 {
		t.Errorf("QUERY_AUTH_CODE: reply %q, %d API answers queued", got, len(queued))
	}
	if send("wx570bc396a51b8ff8", "<MsgType>text</MsgType><Content>QUERY_AUTH_CODE:code1</Content>", false); len(queued) != 1 {
		t.Error("a retry of QUERY_AUTH_CODE queued a second API answer")
	}
	if got := send("wxother", "<MsgType>event</MsgType><Event>LOCATION</Event>", true); got != "not the check" {
		t.Errorf("another account's event went to the check: %q", got)
	}
}
