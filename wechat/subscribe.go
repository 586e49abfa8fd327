package wechat

import (
	"context"
	"net/url"
	"strconv"
	"strings"
)

// API paths of subscribe messages (订阅消息): the template library and the
// send, all with the authorizer token (docs/wechat-capabilities.md).
const (
	pathSubCategory   = "/wxaapi/newtmpl/getcategory"
	pathSubTitles     = "/wxaapi/newtmpl/getpubtemplatetitles"
	pathSubKeywords   = "/wxaapi/newtmpl/getpubtemplatekeywords"
	pathSubAdd        = "/wxaapi/newtmpl/addtemplate"
	pathSubList       = "/wxaapi/newtmpl/gettemplate"
	pathSubDelete     = "/wxaapi/newtmpl/deltemplate"
	pathSubscribeSend = "/cgi-bin/message/subscribe/send"
)

// Subscribe-message errcodes a caller acts on.
const (
	CodeNoSubscription      = 43101 // the user has no consent left for the template
	CodeTemplateDataInvalid = 47003
	CodeInvalidTemplateID   = 40037
	CodeInvalidPage         = 41030
	CodeTooManySubTemplates = 200012
)

// Subscribe template types.
const (
	SubscribeOneTime  = 2 // 一次性订阅
	SubscribeLongTerm = 3 // 长期订阅
)

// SubscribeCategory is a category of the public template library.
type SubscribeCategory struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// SubscribeCategories lists the categories of the mini program's library
// (GET /wxaapi/newtmpl/getcategory).
func (c *Client) SubscribeCategories(ctx context.Context, ts TokenSource) ([]SubscribeCategory, error) {
	var out struct {
		Data []SubscribeCategory `json:"data"`
	}
	err := c.getJSON(ctx, ts, pathSubCategory, nil, &out)
	return out.Data, err
}

// PubTemplateTitle is a template of the public library.
type PubTemplateTitle struct {
	TID        int        `json:"tid"`
	Title      string     `json:"title"`
	Type       int        `json:"type"`
	CategoryID flexString `json:"categoryId"` // a string on the wire, sometimes a number
}

// PubTemplateTitles lists the library's templates of the given categories,
// a page of at most 30 from start (GET /wxaapi/newtmpl/getpubtemplatetitles).
func (c *Client) PubTemplateTitles(ctx context.Context, ts TokenSource, categoryIDs []int, start, limit int) ([]PubTemplateTitle, int, error) {
	ids := make([]string, len(categoryIDs))
	for i, id := range categoryIDs {
		ids[i] = strconv.Itoa(id)
	}
	q := url.Values{"ids": {strings.Join(ids, ",")}, "start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(limit)}}
	var out struct {
		Count int                `json:"count"`
		Data  []PubTemplateTitle `json:"data"`
	}
	err := c.getJSON(ctx, ts, pathSubTitles, q, &out)
	return out.Data, out.Count, err
}

// PubTemplateKeyword is a keyword (关键词) of a library template.
type PubTemplateKeyword struct {
	KID     int    `json:"kid"`
	Name    string `json:"name"`
	Example string `json:"example"`
	Rule    string `json:"rule"`
}

// PubTemplateKeywords lists a library template's keywords
// (GET /wxaapi/newtmpl/getpubtemplatekeywords).
func (c *Client) PubTemplateKeywords(ctx context.Context, ts TokenSource, tid int) ([]PubTemplateKeyword, error) {
	var out struct {
		Data []PubTemplateKeyword `json:"data"`
	}
	err := c.getJSON(ctx, ts, pathSubKeywords, url.Values{"tid": {strconv.Itoa(tid)}}, &out)
	return out.Data, err
}

// AddSubscribeTemplate adds a library template with the chosen keywords to
// the mini program and returns its private template id (priTmplId)
// (POST /wxaapi/newtmpl/addtemplate). Not resent after a lost answer: a
// second call would add a second template.
func (c *Client) AddSubscribeTemplate(ctx context.Context, ts TokenSource, tid int, kids []int, sceneDesc string) (string, error) {
	in := struct {
		TID       string `json:"tid"`
		KIDs      []int  `json:"kidList"`
		SceneDesc string `json:"sceneDesc,omitempty"`
	}{strconv.Itoa(tid), kids, sceneDesc}
	var out struct {
		ID string `json:"priTmplId"`
	}
	err := c.postJSON(ctx, ts, paramAccessToken, pathSubAdd, in, &out)
	return out.ID, err
}

// SubscribeTemplate is a template the mini program added.
type SubscribeTemplate struct {
	PriTmplID string `json:"priTmplId"`
	Title     string `json:"title"`
	Content   string `json:"content"`
	Example   string `json:"example"`
	Type      int    `json:"type"`
}

// SubscribeTemplates lists the mini program's templates (GET /wxaapi/newtmpl/gettemplate).
func (c *Client) SubscribeTemplates(ctx context.Context, ts TokenSource) ([]SubscribeTemplate, error) {
	var out struct {
		Data []SubscribeTemplate `json:"data"`
	}
	err := c.getJSON(ctx, ts, pathSubList, nil, &out)
	return out.Data, err
}

// DeleteSubscribeTemplate removes one (POST /wxaapi/newtmpl/deltemplate).
func (c *Client) DeleteSubscribeTemplate(ctx context.Context, ts TokenSource, priTmplID string) error {
	in := struct {
		ID string `json:"priTmplId"`
	}{priTmplID}
	return c.postJSON(ctx, ts, paramAccessToken, pathSubDelete, in, nil)
}

// SubscribeValue is one keyword's value in a subscribe message.
type SubscribeValue struct {
	Value string `json:"value"`
}

// SubscribeMessage is a subscribe message to one user.
type SubscribeMessage struct {
	ToUser     string                    `json:"touser"`
	TemplateID string                    `json:"template_id"`
	Page       string                    `json:"page,omitempty"`
	Data       map[string]SubscribeValue `json:"data"`
	State      string                    `json:"miniprogram_state,omitempty"` // developer, trial, formal (default)
	Lang       string                    `json:"lang,omitempty"`
}

// SendSubscribeMessage sends a subscribe message and returns WeChat's msgid
// (POST /cgi-bin/message/subscribe/send). It consumes one of the user's
// consents; without one WeChat answers 43101. Not resent after a lost answer.
func (c *Client) SendSubscribeMessage(ctx context.Context, ts TokenSource, m SubscribeMessage) (int64, error) {
	var out struct {
		MsgID int64 `json:"msgid"`
	}
	err := c.postJSON(ctx, ts, paramAccessToken, pathSubscribeSend, m, &out)
	return out.MsgID, err
}
