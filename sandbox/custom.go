package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// authorizerByToken resolves an authorizer_access_token to its authorization.
// A token of an app that is no longer authorized is simply invalid (40001).
// Callers hold s.mu.
func (s *Sandbox) authorizerByToken(tok string, now time.Time) (*component, *authorization, int) {
	if tok == "" {
		return nil, nil, 41001
	}
	authz := s.st.tokens[codeIDOf(tok)]
	if authz == nil || !authz.Authorized {
		return nil, nil, 40001
	}
	for _, t := range authz.AccessTokens {
		if t.Value == tok {
			if code := credentialError(t, now); code != 0 {
				return nil, nil, code
			}
			return s.byID[authz.component], authz, 0
		}
	}
	return nil, nil, 40001
}

// customSendRequest is the body of message/custom/send (WeChat 客服消息 docs).
type customSendRequest struct {
	ToUser  string `json:"touser"`
	MsgType string `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Image *struct {
		MediaID string `json:"media_id"`
	} `json:"image"`
	Link *struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		URL         string `json:"url"`
		ThumbURL    string `json:"thumb_url"`
	} `json:"link"`
	MiniProgramPage *struct {
		Title        string `json:"title"`
		AppID        string `json:"appid"`
		PagePath     string `json:"pagepath"`
		ThumbMediaID string `json:"thumb_media_id"`
	} `json:"miniprogrampage"`
}

// content summarises a message for the outbox, or reports 47001 when the
// part its msgtype needs is missing, 40008 for an unknown msgtype.
func (m *customSendRequest) content() (string, int) {
	switch m.MsgType {
	case "text":
		if m.Text == nil || m.Text.Content == "" {
			return "", 47001
		}
		return m.Text.Content, 0
	case "image":
		if m.Image == nil || m.Image.MediaID == "" {
			return "", 47001
		}
		return m.Image.MediaID, 0
	case "link":
		if m.Link == nil || m.Link.Title == "" || m.Link.URL == "" {
			return "", 47001
		}
		return m.Link.Title + " " + m.Link.URL, 0
	case "miniprogrampage":
		if m.MiniProgramPage == nil || m.MiniProgramPage.Title == "" || m.MiniProgramPage.PagePath == "" {
			return "", 47001
		}
		return m.MiniProgramPage.Title + " " + m.MiniProgramPage.PagePath, 0
	}
	return "", 40008
}

// sendEvent tells release-check waiters about a message/custom/send call.
type sendEvent struct {
	AppID   string // "" when the token did not resolve
	ToUser  string
	MsgType string
	Content string
	Errcode int
}

// sendWaiter receives every custom/send call while a release check waits.
type sendWaiter struct{ ch chan sendEvent }

// POST /cgi-bin/message/custom/send?access_token=AUTHORIZER_ACCESS_TOKEN
func (s *Sandbox) apiCustomSend(r *http.Request, body []byte) (any, int) {
	ev, code := s.customSend(r, body, s.mediaCheck(r, body))
	ev.Errcode = code
	if code == 0 {
		s.logCustomSend(ev, body)
	}
	s.mu.Lock()
	for w := range s.waiters {
		select {
		case w.ch <- ev:
		default: // a waiter that stopped reading must not block WeChat
		}
	}
	s.mu.Unlock()
	if code != 0 {
		return nil, code
	}
	return wxError{Errcode: 0, Errmsg: "ok"}, 0
}

// customerServiceLimit is how many customer-service messages a user may get
// in the 48 hours after one message of theirs, entryServiceLimit in the
// minute after they enter the customer-service session (45047 beyond,
// 45015 once both windows are shut). Source: WeChat's 发送客服消息 guide for
// mini programs and its 客服消息 introduction for official accounts
// (docs/wechat-capabilities.md).
const (
	customerServiceLimit = 5
	entryServiceLimit    = 2
)

func (s *Sandbox) customSend(r *http.Request, body []byte, mediaCode int) (sendEvent, int) {
	var ev sendEvent
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), now)
	if code != 0 {
		return ev, code
	}
	ev.AppID = authz.AppID
	var req customSendRequest
	if code := decode(body, &req); code != 0 {
		return ev, code
	}
	ev.ToUser, ev.MsgType = req.ToUser, req.MsgType
	a := s.st.account(authz.AppID)
	need := funcOfficialMessages
	if a != nil && a.MiniProgram {
		need = funcMiniCustomerCare
	}
	if !slices.Contains(authz.FuncInfo, need) {
		return ev, 61007
	}
	_, known := s.st.users(authz.AppID).Seen[req.ToUser]
	if req.ToUser == "" || !known {
		return ev, 40003
	}
	content, code := req.content()
	if code != 0 {
		return ev, code
	}
	ev.Content = content
	if mediaCode != 0 {
		return ev, mediaCode
	}
	users := s.st.users(authz.AppID)
	wroteAt, wrote := users.Wrote[req.ToUser]
	enteredAt, entered := users.Entered[req.ToUser]
	if !wrote && !entered {
		wroteAt, wrote = users.Seen[req.ToUser], true // an older state: Seen was a message
	}
	wroteOpen := wrote && now.Sub(wroteAt) <= userWindow
	enteredOpen := entered && now.Sub(enteredAt) <= entryWindow
	switch {
	case wroteOpen && users.Sent[req.ToUser] < customerServiceLimit:
		if users.Sent == nil {
			users.Sent = map[string]int{}
		}
		users.Sent[req.ToUser]++
	case enteredOpen && users.EntrySent[req.ToUser] < entryServiceLimit:
		if users.EntrySent == nil {
			users.EntrySent = map[string]int{}
		}
		users.EntrySent[req.ToUser]++
	case !wroteOpen && !enteredOpen:
		return ev, 45015
	default:
		return ev, 45047
	}
	s.touch(ref{kind: kUsers, a: authz.AppID})
	s.st.nextSeq++
	s.st.Outbox = append(s.st.Outbox, outboxEntry{
		Seq: s.st.nextSeq, ComponentAppID: c.AppID, AppID: authz.AppID, ToUser: req.ToUser, MsgType: req.MsgType,
		Content: content, Body: json.RawMessage(body), At: now,
	})
	s.touch(outboxRef(s.st.nextSeq), ref{kind: kMeta})
	if n := len(s.st.Outbox) - outboxLimit; n > 0 {
		for _, e := range s.st.Outbox[:n] {
			s.touch(outboxRef(e.Seq))
		}
		s.st.Outbox = slices.Delete(s.st.Outbox, 0, n)
	}
	return ev, 0
}
