package sandbox

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// checkCase is one step of the 全网发布 release check.
type checkCase struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"` // one sentence: what happened, or what went wrong
}

// checkResult is the outcome of a release check.
type checkResult struct {
	Passed         bool        `json:"passed"`
	AppID          string      `json:"appid"`
	ComponentAppID string      `json:"component_appid"`
	Cases          []checkCase `json:"cases"`
}

// randomTestApp picks one of WeChat's two test accounts, as WeChat does.
func randomTestApp() string {
	if randomInt(2) == 0 {
		return TestOfficialAccount
	}
	return TestMiniProgram
}

// releaseCheck runs WeChat's automated 全网发布 test against the platform
// (WeChat's 全网发布 docs): authorize a test account (authorized push plus a
// ticket push), then three encrypted messages to its message URL:
//
//	event    — a LOCATION event; expects an encrypted passive text "LOCATIONfrom_callback"
//	text     — "TESTCOMPONENT_MSG_TYPE_TEXT"; expects "TESTCOMPONENT_MSG_TYPE_TEXT_callback"
//	api      — "QUERY_AUTH_CODE:<code>"; expects an empty/"success" reply and, within
//	           5 s, message/custom/send of "<code>_from_api" to the sender
//
// Each message is sent once, without retries: the check judges the first answer.
func (s *Sandbox) releaseCheck(ctx context.Context, c *component, appid string) checkResult {
	if appid == "" {
		appid = s.pickTestApp()
	}
	res := checkResult{AppID: appid, ComponentAppID: c.AppID}
	add := func(name string, passed bool, format string, args ...any) {
		res.Cases = append(res.Cases, checkCase{name, passed, fmt.Sprintf(format, args...)})
	}
	a := s.account(appid)

	// Authorize the test account like any authorizer.
	s.mu.Lock()
	pre := s.issuePreAuthLocked(c, s.now())
	infoType, code := s.authorizeLocked(c, appid, funcIDs(funcSetsFor(a.MiniProgram)))
	s.mu.Unlock()
	s.waitDurable(ctx)
	pr := s.push(ctx, s.authEvent(c, infoType, appid, code, pre))
	add("authorized_push", pr.OK, "%s", pushOutcome(infoType, pr))
	_, pr = s.pushTicket(ctx, c)
	add("ticket_push", pr.OK, "%s", pushOutcome("component_verify_ticket", pr))

	openid := newOpenID()
	s.mu.Lock()
	s.st.users(appid).Seen[openid] = s.now()
	s.touch(ref{kind: kUsers, a: appid})
	s.mu.Unlock()
	message := func(build func(x *xmlDoc)) (status int, reply string, elapsed time.Duration, err error) {
		var x xmlDoc
		x.str("ToUserName", a.UserName)
		x.str("FromUserName", openid)
		x.num("CreateTime", s.wall().Unix())
		build(&x)
		sealed, err := s.seal(pushJob{comp: c, kind: kindMessage, appID: appid, toUser: a.UserName, openID: openid, plain: x.bytes()})
		if err != nil {
			return 0, "", 0, err
		}
		start := time.Now()
		status, reply, err = s.deliver(ctx, sealed, s.replyTimeout)
		return status, reply, time.Since(start), err
	}

	// Case A: an event.
	status, reply, elapsed, err := message(func(x *xmlDoc) {
		x.str("MsgType", "event")
		x.str("Event", "LOCATION")
		x.raw("Latitude", "23.137466")
		x.raw("Longitude", "113.352425")
		x.raw("Precision", "119.385040")
	})
	ok, detail := s.checkPassiveReply(c, status, reply, elapsed, err, "LOCATIONfrom_callback", openid, a.UserName)
	add("event", ok, "%s", detail)

	// Case B: a text message.
	status, reply, elapsed, err = message(func(x *xmlDoc) {
		x.str("MsgType", "text")
		x.str("Content", "TESTCOMPONENT_MSG_TYPE_TEXT")
		x.num("MsgId", s.nextMsgID())
	})
	ok, detail = s.checkPassiveReply(c, status, reply, elapsed, err, "TESTCOMPONENT_MSG_TYPE_TEXT_callback", openid, a.UserName)
	add("text", ok, "%s", detail)

	// Case C: QUERY_AUTH_CODE, answered through the API.
	s.mu.Lock()
	fresh := s.issueAuthCodeLocked(c, appid)
	waiter := &sendWaiter{ch: make(chan sendEvent, 32)}
	s.waiters[waiter] = struct{}{}
	s.mu.Unlock()
	s.waitDurable(ctx)
	defer func() {
		s.mu.Lock()
		delete(s.waiters, waiter)
		s.mu.Unlock()
	}()
	sent := time.Now()
	status, reply, elapsed, err = message(func(x *xmlDoc) {
		x.str("MsgType", "text")
		x.str("Content", "QUERY_AUTH_CODE:"+fresh)
		x.num("MsgId", s.nextMsgID())
	})
	switch r := strings.TrimSpace(reply); {
	case err != nil:
		add("api", false, "the platform did not answer the QUERY_AUTH_CODE message within %s: %v", s.replyTimeout, err)
	case status != http.StatusOK:
		add("api", false, "the platform answered the QUERY_AUTH_CODE message with HTTP %d instead of 200", status)
	case r != "" && r != "success":
		add("api", false, "the platform answered the QUERY_AUTH_CODE message with %q; it must answer an empty body or \"success\" and reply through message/custom/send", truncate(r, 60))
	default:
		ok, detail := s.awaitCustomSend(ctx, waiter, sent, appid, openid, fresh+"_from_api")
		add("api", ok, "%s (the message itself was answered in %s)", detail, elapsed.Round(time.Millisecond))
	}

	res.Passed = true
	for _, cc := range res.Cases {
		res.Passed = res.Passed && cc.Passed
	}
	s.log.Info("release check", "component_appid", c.AppID, "appid", appid, "passed", res.Passed)
	return res
}

// nextMsgID hands out a unique 64-bit MsgId.
func (s *Sandbox) nextMsgID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.st.NextMsgID
	s.st.NextMsgID++
	s.touch(ref{kind: kMeta})
	return id
}

func pushOutcome(what string, pr pushResult) string {
	switch {
	case pr.OK:
		return fmt.Sprintf("the platform acknowledged the %s push with \"success\"", what)
	case pr.Err != nil:
		return fmt.Sprintf("the %s push failed after %d attempts: %v", what, pr.Attempts, pr.Err)
	default:
		return fmt.Sprintf("the platform answered the %s push with HTTP %d %q; it must answer 200 \"success\"", what, pr.Status, truncate(pr.Body, 60))
	}
}

// awaitCustomSend waits until the platform sends the expected customer-service
// message, at most apiWait after the message went out.
func (s *Sandbox) awaitCustomSend(ctx context.Context, w *sendWaiter, sent time.Time, appid, openid, want string) (bool, string) {
	timer := time.NewTimer(time.Until(sent.Add(s.apiWait)))
	defer timer.Stop()
	var last *sendEvent
	for {
		select {
		case ev := <-w.ch:
			if ev.Errcode == 0 && ev.AppID == appid && ev.ToUser == openid {
				if ev.MsgType != "text" || ev.Content != want {
					return false, fmt.Sprintf("message/custom/send sent %s %q to the tester, want text %q", ev.MsgType, truncate(ev.Content, 80), want)
				}
				return true, fmt.Sprintf("message/custom/send delivered %q %s after the message", want, time.Since(sent).Round(time.Millisecond))
			}
			last = &ev
		case <-timer.C:
			if last != nil && last.Errcode != 0 {
				return false, fmt.Sprintf("no valid message/custom/send within %s; the last call failed with errcode %d (%s)", s.apiWait, last.Errcode, errmsg(last.Errcode))
			}
			if last != nil {
				return false, fmt.Sprintf("no message/custom/send to the tester %s of %s within %s (a call went to %s of %s)", openid, appid, s.apiWait, last.ToUser, last.AppID)
			}
			return false, fmt.Sprintf("no message/custom/send call within %s: exchange the code with api_query_auth and send %q to the sender", s.apiWait, want)
		case <-ctx.Done():
			return false, "the check was cancelled while waiting for message/custom/send"
		}
	}
}

// replyEnvelope is an encrypted passive reply.
type replyEnvelope struct {
	Encrypt      string `xml:"Encrypt"`
	MsgSignature string `xml:"MsgSignature"`
	TimeStamp    string `xml:"TimeStamp"`
	Nonce        string `xml:"Nonce"`
}

// openReply verifies and decrypts an encrypted passive reply.
func openReply(c *component, body string) ([]byte, error) {
	var env replyEnvelope
	if err := xml.Unmarshal([]byte(body), &env); err != nil || env.Encrypt == "" {
		return nil, errors.New("not an encrypted passive reply")
	}
	return c.crypt.Open(env.MsgSignature, env.TimeStamp, env.Nonce, env.Encrypt)
}

// checkPassiveReply judges a reply that must be an encrypted passive text
// message with Content want and To/From swapped.
func (s *Sandbox) checkPassiveReply(c *component, status int, reply string, elapsed time.Duration, err error, want, openid, gh string) (bool, string) {
	if err != nil {
		return false, fmt.Sprintf("the platform did not answer within %s: %v", s.replyTimeout, err)
	}
	if status != http.StatusOK {
		return false, fmt.Sprintf("the platform answered HTTP %d instead of 200 with an encrypted passive reply", status)
	}
	var env replyEnvelope
	if err := xml.Unmarshal([]byte(reply), &env); err != nil || env.Encrypt == "" {
		return false, fmt.Sprintf("the platform answered %q instead of an encrypted passive reply <xml><Encrypt>…", truncate(reply, 60))
	}
	plain, err := c.crypt.Open(env.MsgSignature, env.TimeStamp, env.Nonce, env.Encrypt)
	if err != nil {
		return false, fmt.Sprintf("the encrypted reply does not open with the component's token and key: %v", err)
	}
	var msg struct {
		ToUserName   string `xml:"ToUserName"`
		FromUserName string `xml:"FromUserName"`
		MsgType      string `xml:"MsgType"`
		Content      string `xml:"Content"`
	}
	if err := xml.Unmarshal(plain, &msg); err != nil {
		return false, fmt.Sprintf("the decrypted reply is not a WeChat XML message: %v", err)
	}
	switch {
	case msg.MsgType != "text":
		return false, fmt.Sprintf("the reply's MsgType is %q, want \"text\"", msg.MsgType)
	case msg.Content != want:
		return false, fmt.Sprintf("the reply's Content is %q, want %q", truncate(msg.Content, 80), want)
	case msg.ToUserName != openid:
		return false, fmt.Sprintf("the reply's ToUserName is %q, want the sender's openid %q (swap To and From)", msg.ToUserName, openid)
	case msg.FromUserName != gh:
		return false, fmt.Sprintf("the reply's FromUserName is %q, want the account's %q (swap To and From)", msg.FromUserName, gh)
	}
	return true, fmt.Sprintf("replied %q in %s", want, elapsed.Round(time.Millisecond))
}
