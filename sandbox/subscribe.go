package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Subscribe messages (订阅消息, docs/wechat-capabilities.md): a small public
// template library by category, the templates each mini program added from
// it (wxaapi/newtmpl/*), the users' consents from the 订阅 popup, and
// message/subscribe/send, which needs one: a one-time template's accept
// grants one send, a send consumes it (43101 without one).

// pubKeyword is a keyword (关键词) of a public template.
type pubKeyword struct {
	KID     int    `json:"kid"`
	Name    string `json:"name"`
	Example string `json:"example"`
	Rule    string `json:"rule"`
}

// pubTemplate is a template of the public library (公共模板库).
type pubTemplate struct {
	TID      int          `json:"tid"`
	Title    string       `json:"title"`
	Type     int          `json:"type"` // 2 一次性订阅, 3 长期订阅
	Category int          `json:"categoryId"`
	Keywords []pubKeyword `json:"-"`
}

// Template types.
const (
	subOneTime  = 2
	subLongTerm = 3
)

// subCategories and subLibrary are the sandbox's public library: invented
// but shaped like WeChat's (ids, titles, keyword rules).
var subCategories = []struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}{{616, "餐饮服务"}, {632, "快递、物流"}, {651, "会员服务"}}

var subLibrary = []pubTemplate{
	{TID: 1001, Title: "订单配送通知", Type: subOneTime, Category: 616, Keywords: []pubKeyword{
		{1, "订单内容", "宫保鸡丁", "thing"}, {2, "订单号", "20261203001", "character_string"},
		{3, "配送时间", "2026-12-03 12:30", "time"}, {4, "配送状态", "配送中", "phrase"}, {5, "骑手姓名", "张三", "name"}}},
	{TID: 1002, Title: "取餐提醒", Type: subOneTime, Category: 616, Keywords: []pubKeyword{
		{1, "取餐号", "A018", "character_string"}, {2, "门店", "人民广场店", "thing"},
		{3, "下单时间", "2026-12-03 12:00", "time"}, {4, "温馨提示", "请尽快取餐", "thing"}}},
	{TID: 2001, Title: "快递签收通知", Type: subOneTime, Category: 632, Keywords: []pubKeyword{
		{1, "运单号", "SF1234567890", "character_string"}, {2, "状态", "已签收", "phrase"},
		{3, "签收时间", "2026-12-03 18:00", "time"}, {4, "备注", "放在门口", "thing"}}},
	{TID: 3001, Title: "会员积分变动提醒", Type: subOneTime, Category: 651, Keywords: []pubKeyword{
		{1, "变动积分", "100", "number"}, {2, "当前积分", "1200", "number"},
		{3, "变动时间", "2026-12-03 12:00", "time"}, {4, "变动原因", "消费奖励", "thing"}, {5, "消费金额", "88.00元", "amount"}}},
	{TID: 3002, Title: "会员到期提醒", Type: subLongTerm, Category: 651, Keywords: []pubKeyword{
		{1, "会员类型", "黄金会员", "thing"}, {2, "到期时间", "2026年12月31日", "date"}, {3, "备注", "续费享八折", "thing"}}},
}

func pubTemplateByID(tid int) *pubTemplate {
	for i := range subLibrary {
		if subLibrary[i].TID == tid {
			return &subLibrary[i]
		}
	}
	return nil
}

// keywords returns the template's keywords in kids' order.
func (t *pubTemplate) keywords(kids []int) []pubKeyword {
	var out []pubKeyword
	for _, kid := range kids {
		for _, k := range t.Keywords {
			if k.KID == kid {
				out = append(out, k)
			}
		}
	}
	return out
}

// key is the data key of a keyword in a subscribe message: rule and kid
// ("thing1"), as the template content names it ({{thing1.DATA}}).
func (k pubKeyword) key() string { return k.Rule + strconv.Itoa(k.KID) }

// subCaller resolves the authorizer token of a subscribe API.
func (s *Sandbox) subCaller(r *http.Request) (appid string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), s.now())
	if code != 0 {
		return "", code
	}
	return authz.AppID, 0
}

// GET /wxaapi/newtmpl/getcategory
func (s *Sandbox) apiSubCategories(r *http.Request, _ []byte) (any, int) {
	if _, code := s.subCaller(r); code != 0 {
		return nil, code
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "data": subCategories}, 0
}

// GET /wxaapi/newtmpl/getpubtemplatetitles?ids=616,632&start=0&limit=30
func (s *Sandbox) apiSubTitles(r *http.Request, _ []byte) (any, int) {
	if _, code := s.subCaller(r); code != 0 {
		return nil, code
	}
	q := r.URL.Query()
	if q.Get("ids") == "" {
		return nil, 200018
	}
	var ids []int
	for _, v := range strings.Split(q.Get("ids"), ",") {
		id, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, 200019
		}
		ids = append(ids, id)
	}
	start, err := strconv.Atoi(q.Get("start"))
	if err != nil || start < 0 {
		return nil, 200016
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > 30 {
		return nil, 200017
	}
	type title struct {
		TID      int    `json:"tid"`
		Title    string `json:"title"`
		Type     int    `json:"type"`
		Category string `json:"categoryId"`
	}
	var all []title
	for _, t := range subLibrary {
		if slices.Contains(ids, t.Category) {
			all = append(all, title{t.TID, t.Title, t.Type, strconv.Itoa(t.Category)})
		}
	}
	page := []title{}
	if start < len(all) {
		page = all[start:min(len(all), start+limit)]
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "count": len(all), "data": page}, 0
}

// GET /wxaapi/newtmpl/getpubtemplatekeywords?tid=1001
func (s *Sandbox) apiSubKeywords(r *http.Request, _ []byte) (any, int) {
	if _, code := s.subCaller(r); code != 0 {
		return nil, code
	}
	tid, _ := strconv.Atoi(r.URL.Query().Get("tid"))
	t := pubTemplateByID(tid)
	if t == nil {
		return nil, 200014
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "count": len(t.Keywords), "data": t.Keywords}, 0
}

// POST /wxaapi/newtmpl/addtemplate {"tid","kidList":[...],"sceneDesc"}
func (s *Sandbox) apiSubAdd(r *http.Request, body []byte) (any, int) {
	appid, code := s.subCaller(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		TID       json.RawMessage `json:"tid"`
		KIDs      []int           `json:"kidList"`
		SceneDesc string          `json:"sceneDesc"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	tid, okID := flexID(req.TID)
	t := pubTemplateByID(int(tid))
	if !okID || t == nil {
		return nil, 200014
	}
	if len(req.KIDs) < 2 || len(req.KIDs) > 5 || len(t.keywords(req.KIDs)) != len(req.KIDs) || hasDup(req.KIDs) {
		return nil, 200020
	}
	if utf8.RuneCountInString(req.SceneDesc) > 15 {
		return nil, 200021
	}
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(appid)
	if len(a.Templates) >= subTemplateMax {
		return nil, 200012
	}
	id := randomToken(32)
	a.Templates = append(a.Templates, &subTemplate{ID: id, TID: t.TID, KIDs: slices.Clone(req.KIDs),
		SceneDesc: req.SceneDesc, CreatedAt: cs.now()})
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "priTmplId": id}, 0
}

func hasDup(v []int) bool {
	c := slices.Clone(v)
	slices.Sort(c)
	return len(slices.Compact(c)) != len(v)
}

// subTemplateView is a template as gettemplate lists it.
type subTemplateView struct {
	ID      string `json:"priTmplId"`
	Title   string `json:"title"`
	Content string `json:"content"`
	Example string `json:"example"`
	Type    int    `json:"type"`
}

func viewSubTemplate(st *subTemplate) subTemplateView {
	t := pubTemplateByID(st.TID)
	var content, example strings.Builder
	for _, k := range t.keywords(st.KIDs) {
		fmt.Fprintf(&content, "%s:{{%s.DATA}}\n", k.Name, k.key())
		fmt.Fprintf(&example, "%s:%s\n", k.Name, k.Example)
	}
	return subTemplateView{ID: st.ID, Title: t.Title, Content: content.String(), Example: example.String(), Type: t.Type}
}

// GET /wxaapi/newtmpl/gettemplate
func (s *Sandbox) apiSubList(r *http.Request, _ []byte) (any, int) {
	appid, code := s.subCaller(r)
	if code != 0 {
		return nil, code
	}
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	list := []subTemplateView{}
	if a := cs.peek(appid); a != nil {
		for _, t := range a.Templates {
			list = append(list, viewSubTemplate(t))
		}
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "data": list}, 0
}

// POST /wxaapi/newtmpl/deltemplate {"priTmplId"}
func (s *Sandbox) apiSubDelete(r *http.Request, body []byte) (any, int) {
	appid, code := s.subCaller(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		ID string `json:"priTmplId"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.peek(appid)
	if a == nil || a.template(req.ID) == nil {
		return nil, 40037
	}
	cs.app(appid)
	a.Templates = slices.DeleteFunc(a.Templates, func(t *subTemplate) bool { return t.ID == req.ID })
	for k := range a.Consents {
		if strings.HasSuffix(k, " "+req.ID) {
			delete(a.Consents, k)
		}
	}
	return ok(), cs.flush()
}

func (a *appCaps) template(id string) *subTemplate {
	for _, t := range a.Templates {
		if t.ID == id {
			return t
		}
	}
	return nil
}

func consentKey(openid, tmpl string) string { return openid + " " + tmpl }

// subSendRequest is the body of message/subscribe/send.
type subSendRequest struct {
	ToUser     string `json:"touser"`
	TemplateID string `json:"template_id"`
	Page       string `json:"page"`
	Data       map[string]struct {
		Value string `json:"value"`
	} `json:"data"`
	State string `json:"miniprogram_state"`
	Lang  string `json:"lang"`
}

// POST /cgi-bin/message/subscribe/send
//
// A send WeChat accepts is delivered, and WeChat then pushes
// subscribe_msg_sent_event to the message URL with the msgid it answered
// (ErrorCode 0, ErrorStatus "success"; docs/wechat-capabilities.md).
func (s *Sandbox) apiSubSend(r *http.Request, body []byte) (any, int) {
	appid, code := s.subCaller(r)
	if code != 0 {
		return nil, code
	}
	res, sent, code := s.subSend(r, appid, body)
	if code != 0 {
		return nil, code
	}
	s.pushSubSent(appid, sent)
	return res, 0
}

// subSent is what a delivered subscribe message reports in
// subscribe_msg_sent_event.
type subSent struct {
	OpenID, TemplateID string
	MsgID              int64
}

// pushSubSent pushes subscribe_msg_sent_event for a delivered message, in
// the background (WeChat reports the delivery after the send's answer).
func (s *Sandbox) pushSubSent(appid string, sent subSent) {
	a := s.account(appid)
	c, err := s.authorizedComponent(appid, "")
	if a == nil || err != nil {
		return
	}
	var x xmlDoc
	x.str("ToUserName", a.UserName)
	x.str("FromUserName", sent.OpenID)
	x.num("CreateTime", s.wall().Unix())
	x.str("MsgType", "event")
	x.str("Event", "subscribe_msg_sent_event")
	x.raw("SubscribeMsgSentEvent", "<List><TemplateId>"+cdata(sent.TemplateID)+"</TemplateId><MsgID>"+
		strconv.FormatInt(sent.MsgID, 10)+"</MsgID><ErrorCode>0</ErrorCode><ErrorStatus>"+cdata("success")+"</ErrorStatus></List>")
	s.pushAsync(pushJob{comp: c, kind: kindMessage, appID: appid, toUser: a.UserName, openID: sent.OpenID,
		event: "event.subscribe_msg_sent_event", plain: x.bytes()})
}

// subSend checks and makes one send; the caller pushes its sent event.
func (s *Sandbox) subSend(r *http.Request, appid string, body []byte) (any, subSent, int) {
	var sent subSent
	var req subSendRequest
	if code := decode(body, &req); code != 0 {
		return nil, sent, code
	}
	if !slices.Contains([]string{"", "developer", "trial", "formal"}, req.State) ||
		!slices.Contains([]string{"", "zh_CN", "en_US", "zh_HK", "zh_TW"}, req.Lang) {
		return nil, sent, 47001
	}
	s.mu.Lock()
	_, seen := s.st.users(appid).Seen[req.ToUser]
	s.mu.Unlock()
	pages, released := s.onlinePages(appid)

	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.peek(appid)
	known := seen
	if a != nil && !known {
		for k := range a.Consents {
			known = known || strings.HasPrefix(k, req.ToUser+" ")
		}
	}
	if req.ToUser == "" || !known {
		return nil, sent, 40003
	}
	var st *subTemplate
	if a != nil {
		st = a.template(req.TemplateID)
	}
	if st == nil {
		return nil, sent, 40037
	}
	t := pubTemplateByID(st.TID)
	var text strings.Builder
	text.WriteString(t.Title)
	for _, k := range t.keywords(st.KIDs) {
		v := req.Data[k.key()].Value
		if !validKeyword(k.Rule, v) {
			return nil, sent, 47003
		}
		fmt.Fprintf(&text, "\n%s:%s", k.Name, v)
	}
	if req.Page != "" && released {
		path, _, _ := strings.Cut(strings.TrimPrefix(req.Page, "/"), "?")
		if !slices.Contains(pages, path) {
			return nil, sent, 41030
		}
	}
	c := a.Consents[consentKey(req.ToUser, st.ID)]
	switch {
	case c == nil, c.Off:
		return nil, sent, 43101
	case c.LongTerm:
	case c.Remaining > 0:
		c.Remaining--
	default:
		return nil, sent, 43101
	}
	cs.app(appid)
	msgID := cs.meta.NextMsg
	cs.meta.NextMsg++
	cs.appendLog(appid, userLogEntry{Direction: "out", Via: "subscribe_send", OpenID: req.ToUser, MsgType: "subscribe",
		Content: text.String(), Body: json.RawMessage(slices.Clone(body)), At: cs.now()})
	if code := cs.flush(); code != 0 {
		return nil, sent, code
	}
	sent = subSent{OpenID: req.ToUser, TemplateID: st.ID, MsgID: msgID}
	return map[string]any{"errcode": 0, "errmsg": "ok", "msgid": msgID}, sent, 0
}

// onlinePages returns the pages of the mini program's online version, and
// whether it has one: a subscribe message's page must be one of them.
func (s *Sandbox) onlinePages(appid string) ([]string, bool) {
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.apps[appid]
	if a == nil || a.Online == nil {
		return nil, false
	}
	return slices.Clone(a.Online.Version.Pages), true
}

var (
	reNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	reLetter = regexp.MustCompile(`^[A-Za-z]+$`)
	reChars  = regexp.MustCompile(`^[A-Za-z0-9_\-.:/#@+ ]+$`)
	reTime   = regexp.MustCompile(`^([0-9]{4}(-[0-9]{1,2}-[0-9]{1,2}|年[0-9]{1,2}月[0-9]{1,2}日) )?[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$`)
	reDate   = regexp.MustCompile(`^[0-9]{4}(-[0-9]{1,2}-[0-9]{1,2}|年[0-9]{1,2}月[0-9]{1,2}日)$`)
	reAmount = regexp.MustCompile(`^[¥￥]?[0-9]+(\.[0-9]{1,2})?元?$`)
	rePhone  = regexp.MustCompile(`^[0-9+\-() ]{1,17}$`)
)

// validKeyword checks a value against its keyword's rule (WeChat's data
// classes and their limits, docs/wechat-capabilities.md).
func validKeyword(rule, v string) bool {
	n := utf8.RuneCountInString(v)
	if n == 0 {
		return false
	}
	switch rule {
	case "thing":
		return n <= 20
	case "number":
		return len(v) <= 32 && reNumber.MatchString(v)
	case "letter":
		return n <= 32 && reLetter.MatchString(v)
	case "character_string":
		return n <= 32 && reChars.MatchString(v)
	case "time":
		return reTime.MatchString(v)
	case "date":
		return reDate.MatchString(v)
	case "amount":
		return reAmount.MatchString(v)
	case "phone_number":
		return rePhone.MatchString(v)
	case "name":
		return n <= 10
	case "phrase":
		return n <= 5
	}
	return n <= 20
}

// subscribeRequest is the body of POST /sandbox/api/apps/{appid}/subscribe.
type subscribeRequest struct {
	ComponentAppID string   `json:"component_appid"`
	OpenID         string   `json:"openid"`
	TemplateIDs    []string `json:"template_ids"`
	Accept         bool     `json:"accept"`
}

// POST /sandbox/api/apps/{appid}/subscribe {"openid"?,"template_ids":[...],"accept"}
// → {"openid","status","error"?}: the user answers the 订阅 popup of
// wx.requestSubscribeMessage. Accepting a one-time template grants one send;
// a long-term one stays on until refused. WeChat pushes
// subscribe_msg_popup_event to the platform either way.
func (s *Sandbox) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	var req subscribeRequest
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	appid := r.PathValue("appid")
	a := s.account(appid)
	if a == nil {
		writeControlError(w, http.StatusNotFound, fmt.Errorf("unknown appid %q", appid))
		return
	}
	if len(req.TemplateIDs) == 0 || len(req.TemplateIDs) > 3 {
		writeControlError(w, http.StatusBadRequest, errors.New(`"template_ids" names 1 to 3 templates, as one wx.requestSubscribeMessage may`))
		return
	}
	c, err := s.authorizedComponent(appid, req.ComponentAppID)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	s.mu.Lock()
	authz := s.st.ensureComponent(c.AppID).Authorizations[appid]
	if authz == nil || !authz.Authorized {
		s.mu.Unlock()
		writeControlError(w, http.StatusConflict, fmt.Errorf("%w: the popup's event goes only to a platform the app authorized", errNotAuthorized))
		return
	}
	users := s.st.users(appid)
	if req.OpenID == "" {
		if users.Default == "" {
			users.Default = newOpenID()
			s.touch(ref{kind: kUsers, a: appid})
		}
		req.OpenID = users.Default
	}
	s.mu.Unlock()
	s.waitDurable(r.Context())

	status := "reject"
	if req.Accept {
		status = "accept"
	}
	cs := s.caps
	cs.mu.Lock()
	ac := cs.peek(appid)
	for _, id := range req.TemplateIDs {
		if ac == nil || ac.template(id) == nil {
			cs.mu.Unlock()
			writeControlError(w, http.StatusBadRequest, fmt.Errorf("template %q is not one of the app's subscribe templates (wxaapi/newtmpl/addtemplate)", id))
			return
		}
	}
	ac = cs.app(appid)
	statuses := make([]string, len(req.TemplateIDs))
	for i, id := range req.TemplateIDs {
		key := consentKey(req.OpenID, id)
		c := ac.Consents[key]
		if c == nil {
			c = &consent{}
			ac.Consents[key] = c
		}
		// A template the user set to 拒收 in the settings is refused
		// without asking (a sandbox choice: docs/wechat-capabilities.md).
		accept := req.Accept && !c.Off
		statuses[i] = "reject"
		if accept {
			statuses[i] = "accept"
		}
		longTerm := pubTemplateByID(ac.template(id).TID).Type == subLongTerm
		switch {
		case longTerm:
			c.LongTerm, c.Remaining = accept, 0
		case accept:
			c.Remaining++
		}
	}
	cs.appendLog(appid, userLogEntry{Direction: "in", Via: "subscribe_popup", OpenID: req.OpenID, MsgType: "event",
		Content: status + " " + strings.Join(req.TemplateIDs, ","), At: cs.now()})
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("writing the capability state failed"))
		return
	}

	var list strings.Builder
	for i, id := range req.TemplateIDs {
		list.WriteString("<List><TemplateId>" + cdata(id) + "</TemplateId><SubscribeStatusString>" + cdata(statuses[i]) +
			"</SubscribeStatusString><PopupScene>0</PopupScene></List>")
	}
	var x xmlDoc
	x.str("ToUserName", a.UserName)
	x.str("FromUserName", req.OpenID)
	x.num("CreateTime", s.wall().Unix())
	x.str("MsgType", "event")
	x.str("Event", "subscribe_msg_popup_event")
	x.raw("SubscribeMsgPopupEvent", list.String())
	res := s.push(r.Context(), pushJob{comp: c, kind: kindMessage, appID: appid, toUser: a.UserName, openID: req.OpenID,
		event: "event.subscribe_msg_popup_event", plain: x.bytes()})
	writeJSON(w, http.StatusOK, messageResult{OpenID: req.OpenID, Status: res.Status, Reply: res.Body, Error: errString(res)})
}

// cdata wraps v in a CDATA section, splitting any "]]>" across two.
func cdata(v string) string {
	return "<![CDATA[" + strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>") + "]]>"
}

// subscribeSettingsRequest is the body of POST
// /sandbox/api/apps/{appid}/subscribe-settings.
type subscribeSettingsRequest struct {
	ComponentAppID string   `json:"component_appid"`
	OpenID         string   `json:"openid"`
	TemplateIDs    []string `json:"template_ids"`
	Accept         bool     `json:"accept"`
}

// subscribeSettingsResult answers it: whether a push went out, and the
// platform's answer to it.
type subscribeSettingsResult struct {
	OpenID string `json:"openid"`
	Accept bool   `json:"accept"`
	Pushed bool   `json:"pushed"`
	Status int    `json:"status,omitempty"`
	Reply  string `json:"reply,omitempty"`
	Error  string `json:"error,omitempty"`
}

// POST /sandbox/api/apps/{appid}/subscribe-settings {"openid"?,"template_ids":[...],"accept"}
// → {"openid","accept","pushed","status"?,"reply"?,"error"?}: the user
// switches the templates' 接收 off (accept false) or back on in the mini
// program's settings (设置 → 订阅消息) or a card's "…" menu. Off drops what
// they granted (sends get 43101) and pushes subscribe_msg_change_event with
// SubscribeStatusString reject; on only lifts the refusal — WeChat pushes
// nothing for it ("目前只推送取消订阅的事件") and grants no send: the user has
// to accept in the popup again.
func (s *Sandbox) handleSubscribeSettings(w http.ResponseWriter, r *http.Request) {
	var req subscribeSettingsRequest
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	appid := r.PathValue("appid")
	a := s.account(appid)
	if a == nil {
		writeControlError(w, http.StatusNotFound, fmt.Errorf("unknown appid %q", appid))
		return
	}
	if len(req.TemplateIDs) == 0 {
		writeControlError(w, http.StatusBadRequest, errors.New(`"template_ids" names at least one template`))
		return
	}
	c, err := s.authorizedComponent(appid, req.ComponentAppID)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	s.mu.Lock()
	users := s.st.users(appid)
	if req.OpenID == "" {
		req.OpenID = users.Default
	}
	s.mu.Unlock()
	if req.OpenID == "" {
		writeControlError(w, http.StatusBadRequest, errors.New(`"openid" is required: the app has no default user yet`))
		return
	}

	cs := s.caps
	cs.mu.Lock()
	ac := cs.peek(appid)
	for _, id := range req.TemplateIDs {
		if ac == nil || ac.template(id) == nil {
			cs.mu.Unlock()
			writeControlError(w, http.StatusBadRequest, fmt.Errorf("template %q is not one of the app's subscribe templates (wxaapi/newtmpl/addtemplate)", id))
			return
		}
	}
	ac = cs.app(appid)
	for _, id := range req.TemplateIDs {
		key := consentKey(req.OpenID, id)
		cn := ac.Consents[key]
		if cn == nil {
			cn = &consent{}
			ac.Consents[key] = cn
		}
		cn.Off = !req.Accept
		if cn.Off {
			cn.Remaining, cn.LongTerm = 0, false
		}
	}
	status := "reject"
	if req.Accept {
		status = "accept"
	}
	cs.appendLog(appid, userLogEntry{Direction: "in", Via: "subscribe_settings", OpenID: req.OpenID, MsgType: "event",
		Content: status + " " + strings.Join(req.TemplateIDs, ","), At: cs.now()})
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("writing the capability state failed"))
		return
	}
	out := subscribeSettingsResult{OpenID: req.OpenID, Accept: req.Accept}
	if req.Accept {
		writeJSON(w, http.StatusOK, out)
		return
	}
	var list strings.Builder
	for _, id := range req.TemplateIDs {
		list.WriteString("<List><TemplateId>" + cdata(id) + "</TemplateId><SubscribeStatusString>" + cdata("reject") +
			"</SubscribeStatusString></List>")
	}
	var x xmlDoc
	x.str("ToUserName", a.UserName)
	x.str("FromUserName", req.OpenID)
	x.num("CreateTime", s.wall().Unix())
	x.str("MsgType", "event")
	x.str("Event", "subscribe_msg_change_event")
	x.raw("SubscribeMsgChangeEvent", list.String())
	res := s.push(r.Context(), pushJob{comp: c, kind: kindMessage, appID: appid, toUser: a.UserName, openID: req.OpenID,
		event: "event.subscribe_msg_change_event", plain: x.bytes()})
	out.Pushed, out.Status, out.Reply, out.Error = true, res.Status, res.Body, errString(res)
	writeJSON(w, http.StatusOK, out)
}
