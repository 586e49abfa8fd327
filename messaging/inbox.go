package messaging

import (
	"context"
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/wechat"
)

// parsePopup reads the <List> items of a SubscribeMsgPopupEvent (its inner
// XML, as push.Message keeps nested elements).
func parsePopup(inner string) ([]store.ConsentChange, error) {
	var doc struct {
		List []struct {
			TemplateID string `xml:"TemplateId"`
			Status     string `xml:"SubscribeStatusString"`
		} `xml:"List"`
	}
	if err := xml.Unmarshal([]byte("<x>"+inner+"</x>"), &doc); err != nil {
		return nil, err
	}
	var out []store.ConsentChange
	for _, l := range doc.List {
		if l.TemplateID != "" {
			out = append(out, store.ConsentChange{TemplateID: strings.TrimSpace(l.TemplateID), Accept: strings.TrimSpace(l.Status) == "accept"})
		}
	}
	return out, nil
}

// parseSent reads the <List> items of a SubscribeMsgSentEvent: the
// template, the msgid the send answered, ErrorCode (0: delivered) and
// ErrorStatus. An item without a msgid cannot be matched and is skipped.
func parseSent(inner string) ([]store.SubscribeDeliveryReport, error) {
	var doc struct {
		List []struct {
			TemplateID string `xml:"TemplateId"`
			MsgID      string `xml:"MsgID"`
			MsgId      string `xml:"MsgId"` // seen in some SDKs' samples; WeChat's page writes MsgID
			Code       string `xml:"ErrorCode"`
			Status     string `xml:"ErrorStatus"`
		} `xml:"List"`
	}
	if err := xml.Unmarshal([]byte("<x>"+inner+"</x>"), &doc); err != nil {
		return nil, err
	}
	var out []store.SubscribeDeliveryReport
	for _, l := range doc.List {
		id := strings.TrimSpace(l.MsgID)
		if id == "" {
			id = strings.TrimSpace(l.MsgId)
		}
		if id == "" {
			continue
		}
		code, err := strconv.Atoi(strings.TrimSpace(l.Code))
		if err != nil {
			code = -1 // unreadable: not a delivery
		}
		out = append(out, store.SubscribeDeliveryReport{TemplateID: strings.TrimSpace(l.TemplateID), MsgID: id,
			ErrorCode: code, ErrorStatus: strings.TrimSpace(l.Status)})
	}
	return out, nil
}

// Conversations pages a mini program's conversations inside sc, the most
// recent first.
func (s *Service) Conversations(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string, limit int, cursor string) ([]*wxfleet.Conversation, int, error) {
	if _, err := s.Store.Authorizer(ctx, componentAppID, appID); err != nil {
		return nil, 0, err
	}
	return s.Store.ListConversations(ctx, sc, componentAppID, appID, limit, cursor)
}

// Reply is a customer-service message to send. For an image, give MediaID,
// or ImageData (and a file name) to upload it first.
type Reply struct {
	MsgType         string
	Text            *wechat.CustomText
	MediaID         string
	ImageData       []byte
	ImageName       string
	Link            *wechat.CustomLink
	MiniProgramPage *wechat.CustomMiniProgramPage
}

// imageLimit is WeChat's bound on a temporary image (docs/wechat-capabilities.md).
const imageLimit = 10 << 20

// Send answers a user through message/custom/send and files the message in
// the conversation. The 48-hour window is checked here first, on the
// platform's clock; WeChat checks it again on its own, and its 45015 is
// named in the error when it refuses.
func (s *Service) Send(ctx context.Context, componentAppID, appID, openID string, r Reply) (*wxfleet.ConversationMessage, error) {
	if _, err := s.authorized(ctx, componentAppID, appID); err != nil {
		return nil, err
	}
	if err := s.windowOpen(ctx, componentAppID, appID, openID); err != nil {
		return nil, err
	}
	m := wechat.CustomMessage{ToUser: openID, MsgType: r.MsgType}
	out := &wxfleet.ConversationMessage{ComponentAppID: componentAppID, AppID: appID, OpenID: openID,
		Direction: wxfleet.DirectionOut, MsgType: r.MsgType}
	ts := s.ts(componentAppID, appID)
	switch r.MsgType {
	case wechat.MsgTypeText:
		if r.Text == nil || strings.TrimSpace(r.Text.Content) == "" {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "文本消息需要 text.content / a text message needs text.content")
		}
		m.Text, out.Content = r.Text, r.Text.Content
	case wechat.MsgTypeImage:
		id := r.MediaID
		if id == "" {
			if len(r.ImageData) == 0 {
				return nil, wxfleet.Errorf(wxfleet.EINVALID, "图片消息需要 image.media_id 或 image.data（base64） / an image message needs image.media_id or image.data (base64)")
			}
			if len(r.ImageData) > imageLimit {
				return nil, wxfleet.Errorf(wxfleet.ETOOLARGE, "图片超过微信的 10 MB 上限 / the image is over WeChat's 10 MB limit")
			}
			name := r.ImageName
			if name == "" {
				name = "image"
			}
			media, err := s.WeChat.UploadImage(ctx, ts, name, r.ImageData)
			if err != nil {
				return nil, wechatErr("上传图片失败", "uploading the image failed", err)
			}
			id = media.MediaID
		}
		m.Image, out.MediaID, out.Content = &wechat.CustomImage{MediaID: id}, id, id
	case wechat.MsgTypeLink:
		if r.Link == nil || r.Link.Title == "" || r.Link.URL == "" {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "图文链接需要 link.title 与 link.url / a link needs link.title and link.url")
		}
		m.Link, out.Content = r.Link, r.Link.Title+" "+r.Link.URL
	case wechat.MsgTypeMiniProgramPage:
		p := r.MiniProgramPage
		if p == nil || p.Title == "" || p.PagePath == "" || p.ThumbMediaID == "" {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "小程序卡片需要 title、pagepath 与 thumb_media_id / a mini program card needs title, pagepath and thumb_media_id")
		}
		m.MiniProgramPage, out.MediaID, out.Content = p, p.ThumbMediaID, p.Title+" "+p.PagePath
	default:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "msgtype 须是 text、image、link 或 miniprogrampage / msgtype must be text, image, link or miniprogrampage")
	}
	if err := s.WeChat.SendCustomMessage(ctx, ts, m); err != nil {
		return nil, wechatErr("微信拒绝了这条客服消息", "WeChat refused the customer-service message", err)
	}
	out.CreatedAt = s.Now()
	if _, err := s.Store.AddConversationMessage(ctx, out); err != nil {
		// Sent all the same: say so rather than have the caller send it twice.
		s.Logger.ErrorContext(ctx, "customer-service message sent but not stored", "appid", appID, "err", err)
	}
	return out, nil
}

// Window is when conversation c's reply window closes (or closed), and
// whether that end comes from a session entry alone (a minute) rather than
// a message (48 hours): wxfleet.ReplyWindowEnd of the user's last message
// and entry. Zero when the user never wrote. The send path refuses with it
// (windowOpen) and the console shows it, so the two always agree.
func (s *Service) Window(ctx context.Context, c *wxfleet.Conversation) (ends time.Time, entryOnly bool, err error) {
	if c.LastUserAt.IsZero() {
		return time.Time{}, false, nil
	}
	// A message older than 48 hours before the last item cannot outlast it.
	msg, entry, err := s.Store.UserWrites(ctx, c.ComponentAppID, c.AppID, c.OpenID, c.LastUserAt.Add(-wxfleet.ReplyWindow))
	if err != nil {
		return time.Time{}, false, err
	}
	if msg.IsZero() && entry.IsZero() {
		// Only the conversation's row tells (its messages are gone): as a message.
		msg = c.LastUserAt
	}
	ends, entryOnly = wxfleet.ReplyWindowEnd(msg, entry)
	return ends, entryOnly, nil
}

// windowOpen refuses, before calling WeChat, a reply to a user who never
// wrote, whose last message is more than 48 hours old, or who only entered
// the session more than a minute ago (Window).
func (s *Service) windowOpen(ctx context.Context, componentAppID, appID, openID string) error {
	now := s.Now()
	read := func() (time.Time, bool, error) {
		c, err := s.Store.Conversation(ctx, wxfleet.Scope{}, componentAppID, appID, openID)
		if err != nil {
			return time.Time{}, false, err
		}
		if !c.WindowOpen(now) { // closed whatever it was
			return c.LastUserAt.Add(wxfleet.ReplyWindow), false, nil
		}
		return s.Window(ctx, c)
	}
	ends, entryOnly, err := read()
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND || (err == nil && !now.Before(ends)) {
		// The user's latest message may be on its way to the store.
		s.theFiler().flush(ctx)
		ends, entryOnly, err = read()
	}
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND || (err == nil && ends.IsZero()) {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "该用户从未给小程序发过客服消息，不能主动发送（微信会以 45015 拒绝） / this user never wrote to the mini program: no customer-service message can be sent (WeChat would refuse with 45015)")
	}
	if err != nil {
		return err
	}
	if now.Before(ends) {
		return nil
	}
	if entryOnly {
		entry := ends.Add(-wxfleet.EntryWindow)
		return wxfleet.Errorf(wxfleet.ECONFLICT, "用户 %s 只进入了客服会话、没有发消息，进入后 1 分钟内才能回复（微信会以 45015 拒绝） / the user only entered the session at %s without writing: a reply is allowed within a minute of entering (WeChat would refuse with 45015)",
			entry.Format(time.RFC3339), entry.Format(time.RFC3339))
	}
	last := ends.Add(-wxfleet.ReplyWindow)
	return wxfleet.Errorf(wxfleet.ECONFLICT, "用户最后一条消息在 %s，已超过 48 小时，不能再回复（微信会以 45015 拒绝） / the user last wrote at %s, more than 48 hours ago: the reply window is closed (WeChat would refuse with 45015)",
		last.Format(time.RFC3339), last.Format(time.RFC3339))
}

// Typing shows or hides 正在输入 to the user.
func (s *Service) Typing(ctx context.Context, componentAppID, appID, openID, command string) error {
	if command != wechat.TypingOn && command != wechat.TypingOff {
		return wxfleet.Errorf(wxfleet.EINVALID, "command 须是 Typing 或 CancelTyping / command must be Typing or CancelTyping")
	}
	if _, err := s.authorized(ctx, componentAppID, appID); err != nil {
		return err
	}
	if err := s.windowOpen(ctx, componentAppID, appID, openID); err != nil {
		return err
	}
	if err := s.WeChat.SetTyping(ctx, s.ts(componentAppID, appID), openID, command); err != nil {
		return wechatErr("设置输入状态失败", "setting the typing state failed", err)
	}
	return nil
}
