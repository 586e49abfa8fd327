package wechat

import (
	"context"
	"errors"
)

const pathCustomSend = "/cgi-bin/message/custom/send"

// Message types of a customer-service message (客服消息).
const (
	MsgTypeText            = "text"
	MsgTypeImage           = "image"
	MsgTypeLink            = "link"
	MsgTypeMiniProgramPage = "miniprogrampage"
)

// CustomMessage is a customer-service message (客服消息) to one user. Set
// MsgType and the one matching payload; when MsgType is empty it is taken from
// the only payload set.
type CustomMessage struct {
	ToUser          string                 `json:"touser"` // the user's openid in this mini program
	MsgType         string                 `json:"msgtype"`
	Text            *CustomText            `json:"text,omitempty"`
	Image           *CustomImage           `json:"image,omitempty"`
	Link            *CustomLink            `json:"link,omitempty"`
	MiniProgramPage *CustomMiniProgramPage `json:"miniprogrampage,omitempty"`
}

// CustomText is the payload of a text message.
type CustomText struct {
	Content string `json:"content"`
}

// CustomImage is the payload of an image message: a temporary media id.
type CustomImage struct {
	MediaID string `json:"media_id"`
}

// CustomLink is the payload of a link (图文链接) message.
type CustomLink struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url"`
	ThumbURL    string `json:"thumb_url"`
}

// CustomMiniProgramPage is the payload of a mini program card (小程序卡片).
type CustomMiniProgramPage struct {
	Title        string `json:"title"`
	PagePath     string `json:"pagepath"`
	ThumbMediaID string `json:"thumb_media_id"`
	AppID        string `json:"appid,omitempty"` // needed only when an official account sends it
}

// TextMessage returns a text message to the user with openid to.
func TextMessage(to, content string) CustomMessage {
	return CustomMessage{ToUser: to, MsgType: MsgTypeText, Text: &CustomText{Content: content}}
}

// SendCustomMessage sends a customer-service message
// (POST /cgi-bin/message/custom/send?access_token=...). ts supplies the
// authorizer_access_token of the mini program. WeChat only accepts it within
// 48 hours of the user's last message (else errcode 45015).
//
// A network error is retried like any other: if WeChat received the first
// attempt, the user may get the message twice.
func (c *Client) SendCustomMessage(ctx context.Context, ts TokenSource, m CustomMessage) error {
	if m.ToUser == "" {
		return errors.New("wechat " + pathCustomSend + ": no touser")
	}
	if m.MsgType == "" {
		m.MsgType = m.payloadType()
	}
	if m.MsgType == "" {
		return errors.New("wechat " + pathCustomSend + ": no msgtype and not exactly one payload")
	}
	return c.postJSON(ctx, ts, paramAccessToken, pathCustomSend, m, nil)
}

// payloadType returns the msgtype matching the only payload set, or "".
func (m CustomMessage) payloadType() string {
	var t string
	n := 0
	if m.Text != nil {
		t, n = MsgTypeText, n+1
	}
	if m.Image != nil {
		t, n = MsgTypeImage, n+1
	}
	if m.Link != nil {
		t, n = MsgTypeLink, n+1
	}
	if m.MiniProgramPage != nil {
		t, n = MsgTypeMiniProgramPage, n+1
	}
	if n != 1 {
		return ""
	}
	return t
}
