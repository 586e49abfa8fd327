package web

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// TestInboxWindowAsTheSendPath: the inbox and the conversation page show
// the reply window as the send path decides it: a user who only entered the
// session two minutes ago is closed (since a minute after the entry) and a
// reply is refused, while a message 47 hours old is still open.
func TestInboxWindowAsTheSendPath(t *testing.T) { storetest.Run(t, testInboxWindowAsTheSendPath) }

func testInboxWindowAsTheSendPath(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	const app = "wxinboxapp"
	if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: app, Nickname: "店", Status: wxfleet.StatusAuthorized}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	entered := now.Add(-2 * time.Minute).Truncate(time.Millisecond)
	for _, m := range []*wxfleet.ConversationMessage{
		{OpenID: "oENTERED", MsgType: "event", Content: "user_enter_tempsession", PushKey: "p/1", CreatedAt: entered},
		{OpenID: "oWROTE", MsgType: "text", Content: "有货吗", PushKey: "p/2", CreatedAt: now.Add(-47 * time.Hour)},
	} {
		m.ComponentAppID, m.AppID, m.Direction = testPlatform, app, wxfleet.DirectionIn
		if _, err := ts.st.AddConversationMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	_, tok := ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)
	closedAt := entered.Add(wxfleet.EntryWindow)
	closedText := closedAt.Local().Format("2006-01-02 15:04:05")

	st, page := ts.call("GET", "/authorizers/"+app+"/inbox", nil, "Cookie", ops)
	if st != http.StatusOK {
		t.Fatalf("inbox: %d", st)
	}
	row := func(openid string) string {
		m := regexp.MustCompile(`(?s)<tr data-openid="` + openid + `">.*?</tr>`).FindString(page)
		if m == "" {
			t.Fatalf("no inbox row for %s", openid)
		}
		return m
	}
	if r := row("oENTERED"); !strings.Contains(r, "会话已关闭") || !strings.Contains(r, closedText) || strings.Contains(r, "可回复至") {
		t.Errorf("inbox row of an entry 2 min old, want closed at %s: %s", closedText, r)
	}
	if r := row("oWROTE"); !strings.Contains(r, "可回复至") || strings.Contains(r, "会话已关闭") {
		t.Errorf("inbox row of a message 47 h old, want open: %s", r)
	}
	window := regexp.MustCompile(`(?s)<p id="window">.*?</p>`)
	_, page = ts.call("GET", "/authorizers/"+app+"/inbox/oENTERED", nil, "Cookie", ops)
	if w := window.FindString(page); !strings.Contains(w, "会话已关闭") || !strings.Contains(w, closedText) {
		t.Errorf("conversation page of an entry 2 min old: %q, want closed at %s", w, closedText)
	}
	_, page = ts.call("GET", "/authorizers/"+app+"/inbox/oWROTE", nil, "Cookie", ops)
	if w := window.FindString(page); !strings.Contains(w, "可回复至") {
		t.Errorf("conversation page of a message 47 h old: %q, want open", w)
	}
	// The API says the same, and the send path refuses the reply.
	_, body := ts.call("GET", "/api/v1/authorizers/"+app+"/conversations/oENTERED", nil, bearer(tok)...)
	var got struct {
		Conversation struct {
			WindowOpen   bool       `json:"window_open"`
			WindowEndsAt *time.Time `json:"window_ends_at"`
		} `json:"conversation"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Conversation.WindowOpen || got.Conversation.WindowEndsAt == nil || !got.Conversation.WindowEndsAt.Equal(closedAt) {
		t.Errorf("API conversation of an entry 2 min old: %s, want closed at %s", body, closedAt)
	}
	if st, body := ts.call("POST", "/api/v1/authorizers/"+app+"/conversations/oENTERED/messages",
		map[string]any{"msgtype": "text", "text": map[string]string{"content": "您好"}}, bearer(tok)...); st != http.StatusConflict {
		t.Errorf("reply to an entry 2 min old: %d %s, want 409", st, body)
	}
}
