package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
)

// Customer-service paths (docs/wechat-capabilities.md).
const (
	pathCustomSend  = "/cgi-bin/message/custom/send"
	pathTyping      = "/cgi-bin/message/custom/business/typing"
	pathMediaUpload = "/cgi-bin/media/upload"
)

// Customer-service errcodes a caller acts on.
const (
	CodeReplyWindowClosed = 45015 // more than 48 hours since the user's last message
	CodeReplyCountLimit   = 45047
	CodeInvalidOpenID     = 40003
	CodeInvalidMediaID    = 40007
	CodeTypingTooLate     = 45080 // no message with the user in the last 30 s
	CodeAlreadyTyping     = 45081
)

// Typing commands of SetTyping.
const (
	TypingOn  = "Typing"
	TypingOff = "CancelTyping"
)

// SetTyping shows (TypingOn) or hides (TypingOff) 正在输入 to a user
// (POST /cgi-bin/message/custom/business/typing).
func (c *Client) SetTyping(ctx context.Context, ts TokenSource, openID, command string) error {
	in := struct {
		ToUser  string `json:"touser"`
		Command string `json:"command"`
	}{openID, command}
	return c.postJSON(ctx, ts, paramAccessToken, pathTyping, in, nil)
}

// Media is a temporary media file WeChat keeps 3 days.
type Media struct {
	Type      string `json:"type"`
	MediaID   string `json:"media_id"`
	CreatedAt int64  `json:"created_at"` // unix seconds
}

// UploadImage uploads a temporary image for customer-service messages
// (POST /cgi-bin/media/upload?type=image, multipart part "media"). It is
// resent after a lost answer: a second upload only makes another media id.
func (c *Client) UploadImage(ctx context.Context, ts TokenSource, filename string, data []byte) (*Media, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("media", filename)
	if err == nil {
		_, err = fw.Write(data)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("wechat %s: build the upload: %w", pathMediaUpload, err)
	}
	resp, err := c.call(ctx, &request{
		method: http.MethodPost, base: c.hosts.API, path: pathMediaUpload, query: url.Values{"type": {"image"}},
		body: buf.Bytes(), contentType: mw.FormDataContentType(), ts: ts, tokenParam: paramAccessToken, resend: true,
	})
	if err != nil {
		return nil, err
	}
	var m Media
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		return nil, fmt.Errorf("wechat %s: decode response: %w", pathMediaUpload, err)
	}
	return &m, nil
}

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
