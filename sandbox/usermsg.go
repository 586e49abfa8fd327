package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// sendUserMessage has a simulated WeChat user of an authorized mini program
// send it a message: text, image, a mini program card (miniprogrampage) or
// an event such as user_enter_tempsession. WeChat pushes it, encrypted, to
// the platform's message URL in the customer-service push format
// (docs/wechat-capabilities.md), and the user's 48-hour reply window opens
// (sandbox clock). The message goes into the app's user log.
func (s *Sandbox) sendUserMessage(ctx context.Context, appid string, m userMessage) (messageResult, int, error) {
	a := s.account(appid)
	if a == nil {
		return messageResult{}, http.StatusNotFound, fmt.Errorf("unknown appid %q", appid)
	}
	if m.MsgType == "" {
		m.MsgType = "text"
		if m.Event != "" {
			m.MsgType = "event"
		}
	}
	switch m.MsgType {
	case "text":
		if m.Content == "" {
			return messageResult{}, http.StatusBadRequest, errors.New(`a text message needs "content"`)
		}
	case "image":
		if m.PicURL == "" {
			m.PicURL = "http://mmbiz.qpic.cn/sandbox/" + randomToken(12) + "/0"
		}
	case "miniprogrampage":
		if m.Title == "" || m.PagePath == "" {
			return messageResult{}, http.StatusBadRequest, errors.New(`a miniprogrampage message needs "title" and "pagepath"`)
		}
	case "event":
		if m.Event == "" {
			m.Event = "user_enter_tempsession"
		}
	default:
		return messageResult{}, http.StatusBadRequest, fmt.Errorf(`msgtype %q: use text, image, miniprogrampage or event`, m.MsgType)
	}
	c, err := s.authorizedComponent(appid, m.ComponentAppID)
	if err != nil {
		return messageResult{}, http.StatusBadRequest, err
	}
	now := s.now()
	s.mu.Lock()
	authz := s.st.ensureComponent(c.AppID).Authorizations[appid]
	if authz == nil || !authz.Authorized {
		s.mu.Unlock()
		return messageResult{}, http.StatusConflict, fmt.Errorf("%w: WeChat forwards user messages only to a platform the app authorized", errNotAuthorized)
	}
	users := s.st.users(appid)
	if m.OpenID == "" {
		if users.Default == "" {
			users.Default = newOpenID()
		}
		m.OpenID = users.Default
	}
	users.Seen[m.OpenID] = now
	if m.MsgType == "event" {
		// An entry into the session opens its own, short allowance.
		users.Entered = setTime(users.Entered, m.OpenID, now)
		delete(users.EntrySent, m.OpenID)
	} else {
		users.Wrote = setTime(users.Wrote, m.OpenID, now)
		delete(users.Sent, m.OpenID) // a new message opens a new allowance (45047)
	}
	var msgID int64
	if m.MsgType != "event" {
		msgID = s.st.NextMsgID
		s.st.NextMsgID++
	}
	s.touch(ref{kind: kUsers, a: appid}, ref{kind: kMeta})
	s.mu.Unlock()

	// A user's image or card thumbnail is media of the app for 3 days, as
	// WeChat keeps it.
	var mediaID string
	if m.MsgType == "image" || m.MsgType == "miniprogrampage" {
		mediaID = randomToken(48)
	}
	content := m.Content
	switch m.MsgType {
	case "image":
		content = m.PicURL
	case "miniprogrampage":
		content = m.Title + " " + m.PagePath
	case "event":
		content = m.Event
	}
	cs := s.caps
	cs.mu.Lock()
	if mediaID != "" {
		cs.app(appid).Media[mediaID] = media{Type: "image", Mime: "image/jpeg", CreatedAt: now}
	}
	cs.appendLog(appid, userLogEntry{Direction: "in", Via: "user", OpenID: m.OpenID, MsgType: m.MsgType, Content: content, At: now})
	cs.flush()
	cs.mu.Unlock()
	s.waitDurable(ctx) // the platform may answer this user at once

	x := userMessageXML(a, m, s.wall(), msgID, mediaID)
	event := m.MsgType
	if m.MsgType == "event" {
		event = "event." + m.Event
	}
	res := s.push(ctx, pushJob{comp: c, kind: kindMessage, appID: appid, toUser: a.UserName, openID: m.OpenID,
		event: event, plain: x})
	out := messageResult{OpenID: m.OpenID, MsgID: msgID, MediaID: mediaID, Status: res.Status, Reply: res.Body, Error: errString(res)}
	if plain, err := openReply(c, res.Body); err == nil {
		out.ReplyPlain = string(plain)
	}
	return out, 0, nil
}

// userMessageXML is the plaintext of a customer-service push: the common
// header, then the fields of the message type.
func userMessageXML(a *account, m userMessage, wall time.Time, msgID int64, mediaID string) []byte {
	var x xmlDoc
	x.str("ToUserName", a.UserName)
	x.str("FromUserName", m.OpenID)
	x.num("CreateTime", wall.Unix())
	x.str("MsgType", m.MsgType)
	switch m.MsgType {
	case "text":
		x.str("Content", m.Content)
	case "image":
		x.str("PicUrl", m.PicURL)
		x.str("MediaId", mediaID)
	case "miniprogrampage":
		x.str("Title", m.Title)
		x.str("AppId", a.AppID)
		x.str("PagePath", m.PagePath)
		thumb := m.ThumbURL
		if thumb == "" {
			thumb = "http://mmbiz.qpic.cn/sandbox/thumb/0"
		}
		x.str("ThumbUrl", thumb)
		x.str("ThumbMediaId", mediaID)
	case "event":
		x.str("Event", m.Event)
		if m.SessionFrom != "" || m.Event == "user_enter_tempsession" {
			x.str("SessionFrom", m.SessionFrom)
		}
	}
	if msgID != 0 {
		x.num("MsgId", msgID)
	}
	return x.bytes()
}

// GET /sandbox/api/apps/{appid}/user-messages?openid= → {"items":[{"seq",
// "direction","via","openid","msgtype","content","body"?,"at"}]}: what the
// app's users sent ("in") and received ("out"), oldest first.
func (s *Sandbox) handleUserMessages(w http.ResponseWriter, r *http.Request) {
	appid := r.PathValue("appid")
	if s.account(appid) == nil {
		writeControlError(w, http.StatusNotFound, fmt.Errorf("unknown appid %q", appid))
		return
	}
	openid := r.URL.Query().Get("openid")
	items := []userLogEntry{}
	cs := s.caps
	cs.mu.Lock()
	if a := cs.peek(appid); a != nil {
		for _, e := range a.Log {
			if openid == "" || e.OpenID == openid {
				items = append(items, e)
			}
		}
	}
	cs.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Items []userLogEntry `json:"items"`
	}{items})
}

// setTime sets m[k] = t, making m if needed.
func setTime(m map[string]time.Time, k string, t time.Time) map[string]time.Time {
	if m == nil {
		m = map[string]time.Time{}
	}
	m[k] = t
	return m
}
