package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The pages of WeChat's people (README, 沙箱): 模拟微信用户, a WeChat
// user of one app (/sandbox/user), and 模拟微信审核, WeChat's reviewers
// (/sandbox/review). Their forms are thin wrappers over the control API:
// each runs the JSON API's own handler in-process (controlCall), so a
// click does exactly what the API does and the rules live in one place.
// The pages show one app at a time, chosen by appid, and short lists, so
// they stay small with 100,000 accounts.

// pageLimit bounds every list on these pages.
const pageLimit = 30

// controlCall runs a control API handler on body (sent as JSON) with the
// path values given as name, value pairs, and returns its status and answer.
func controlCall(r *http.Request, h http.HandlerFunc, body any, path ...string) (int, []byte) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.Path, bytes.NewReader(data))
	if err != nil {
		return http.StatusInternalServerError, []byte(`{"error":"` + err.Error() + `"}`)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(path); i += 2 {
		req.SetPathValue(path[i], path[i+1])
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	h(rec, req)
	return rec.status, rec.body.Bytes()
}

// recorder is the ResponseWriter of controlCall.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header         { return w.header }
func (w *recorder) Write(p []byte) (int, error) { return w.body.Write(p) }
func (w *recorder) WriteHeader(status int)      { w.status = status }

// payCodeWords are WeChat Pay's error codes a control answer may carry, in
// words for the page (the control API answers them in English).
var payCodeWords = map[string]string{
	"ORDER_NOT_EXIST":     "没有这个订单",
	"ORDERPAID":           "订单已支付",
	"ORDER_CLOSED":        "订单已关闭，用户不能再付款",
	"PREPAY_EXPIRED":      "订单已过期（prepay_id 两小时有效），用户不能再付款",
	"RESOURCE_NOT_EXISTS": "没有这个申请单",
	"INVALID_REQUEST":     "申请单已有结论，不能再审",
	"PARAM_ERROR":         "参数错误",
	"MCH_NOT_EXISTS":      "没有这个特约商户",
}

// answerError is the words of a control API's error answer: {"error"} of
// the sandbox's control API, {"code","message"} of WeChat Pay's.
func answerError(status int, answer []byte) string {
	var e struct{ Error, Code, Message string }
	json.Unmarshal(answer, &e)
	switch {
	case e.Error != "":
		return e.Error
	case e.Code != "":
		if zh := payCodeWords[e.Code]; zh != "" {
			return zh + " / " + e.Code + ": " + e.Message
		}
		return e.Code + ": " + e.Message
	}
	return fmt.Sprintf("HTTP %d", status)
}

// backTo redirects to a sandbox page with its query and a flash message
// (failed marks it an error). Post/Redirect/Get: a reload repeats nothing.
func backTo(w http.ResponseWriter, r *http.Request, path string, q url.Values, failed bool, msg string) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("flash", msg)
	if failed {
		q.Set("failed", "1")
	}
	http.Redirect(w, r, path+"?"+q.Encode(), http.StatusSeeOther)
}

// userQuery is the user page's address for an app and an openid.
func userQuery(appid, openid string) url.Values {
	q := url.Values{"appid": {appid}}
	if openid != "" {
		q.Set("openid", openid)
	}
	return q
}

// Views of the user page.
type (
	userView struct {
		Flash       string
		Failed      bool
		AppID       string
		OpenID      string // "" until the app has a default user
		Account     *appSummary
		Recent      []appSummary
		Components  []option // authorized platforms, when more than one
		Templates   []subTemplateRow
		Cards       []cardView
		Held        []heldCard
		Orders      []orderRow
		Received    []userLogRow
		HasAccounts bool
	}
	appSummary struct {
		AppID, Nickname, Kind string
		Authorized            bool
	}
	subTemplateRow struct {
		ID, Title, Content string
		LongTerm           bool
		Consent            string // what the user granted, in words
	}
	heldCard struct {
		Code, CardID, Title, ReceivedAt string
		Consumed                        bool
	}
	orderRow struct {
		OutTradeNo, SubMchID, Description, Amount, State, CreatedAt, OpenID string
		Payable, Expired                                                    bool
	}
	userLogRow struct {
		At, Direction, Via, OpenID, MsgType, Content string
	}
)

// GET /sandbox/user?appid=&openid=: a WeChat user of one app.
func (s *Sandbox) handleUserPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := userView{Flash: q.Get("flash"), Failed: q.Get("failed") != "", AppID: strings.TrimSpace(q.Get("appid")), OpenID: strings.TrimSpace(q.Get("openid"))}
	v.Recent, v.HasAccounts = s.recentApps(10)
	status := http.StatusOK
	if v.AppID != "" {
		if !s.fillUserView(&v) {
			status = http.StatusNotFound
			v.Failed, v.Flash = true, fmt.Sprintf("沙箱里没有帐号 %s / the sandbox has no account %s", v.AppID, v.AppID)
		}
	}
	s.render(w, status, "user.html", v)
}

// recentApps lists the last accounts made that some platform authorized,
// newest first (a short list to pick from), and whether there are any.
func (s *Sandbox) recentApps(limit int) ([]appSummary, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []appSummary
	for i := len(s.st.order) - 1; i >= 0 && len(list) < limit; i-- {
		a := s.st.account(s.st.order[i])
		if sum := s.summaryLocked(a); sum.Authorized && !a.Hidden {
			list = append(list, sum)
		}
	}
	return list, len(s.st.order) > 0
}

// summaryLocked names an account; s.mu is held.
func (s *Sandbox) summaryLocked(a *account) appSummary {
	sum := appSummary{AppID: a.AppID, Nickname: a.Nickname, Kind: "公众号"}
	if a.MiniProgram {
		sum.Kind = "小程序"
	}
	for _, c := range s.comps {
		if authz := s.st.ensureComponent(c.AppID).Authorizations[a.AppID]; authz != nil && authz.Authorized {
			sum.Authorized = true
		}
	}
	return sum
}

// fillUserView reads what the user page shows of v.AppID; false when the
// sandbox has no such account.
func (s *Sandbox) fillUserView(v *userView) bool {
	s.mu.Lock()
	a := s.st.account(v.AppID)
	if a == nil {
		s.mu.Unlock()
		return false
	}
	sum := s.summaryLocked(a)
	v.Account = &sum
	if v.OpenID == "" {
		if u := s.st.Users[v.AppID]; u != nil {
			v.OpenID = u.Default
		}
	}
	if len(s.comps) > 1 {
		for _, c := range s.comps {
			if authz := s.st.ensureComponent(c.AppID).Authorizations[a.AppID]; authz != nil && authz.Authorized {
				v.Components = append(v.Components, option{c.AppID, c.Name + " (" + c.AppID + ")"})
			}
		}
	}
	s.mu.Unlock()

	cs := s.caps
	cs.mu.Lock()
	if ac := cs.peek(v.AppID); ac != nil {
		for _, st := range ac.Templates {
			tv := viewSubTemplate(st)
			row := subTemplateRow{ID: tv.ID, Title: tv.Title, Content: tv.Content, LongTerm: tv.Type == subLongTerm, Consent: "未订阅 · none"}
			if c := ac.Consents[consentKey(v.OpenID, st.ID)]; c != nil && v.OpenID != "" {
				switch {
				case c.Off:
					row.Consent = "已在设置中拒收 · turned off in settings"
				case c.LongTerm:
					row.Consent = "长期订阅 · long-term on"
				case c.Remaining > 0:
					row.Consent = fmt.Sprintf("可发送 %d 次 · %d send(s) granted", c.Remaining, c.Remaining)
				}
			}
			v.Templates = append(v.Templates, row)
		}
		for i := len(ac.Log) - 1; i >= 0 && len(v.Received) < pageLimit; i-- {
			e := ac.Log[i]
			if v.OpenID == "" || e.OpenID == v.OpenID {
				v.Received = append(v.Received, userLogRow{localTime(e.At), e.Direction, e.Via, e.OpenID, e.MsgType, e.Content})
			}
		}
	}
	cs.mu.Unlock()

	s.fillUserCards(v)
	s.fillUserOrders(v)
	return true
}

// fillUserCards lists the app's cards and the ones the user holds.
func (s *Sandbox) fillUserCards(v *userView) {
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.decideAllLocked()
	titles := map[string]string{}
	for _, c := range cs.cards {
		if c.AppID == v.AppID {
			titles[c.ID] = c.Title
			v.Cards = append(v.Cards, cardView{c.ID, c.Type, c.Title, c.Status, c.RefuseReason, c.Quantity, c.Issued, c.Consumed})
		}
	}
	slices.SortFunc(v.Cards, func(a, b cardView) int { return compareStrings(a.CardID, b.CardID) })
	if len(v.Cards) > pageLimit {
		v.Cards = v.Cards[:pageLimit]
	}
	if v.OpenID == "" || len(titles) == 0 {
		return
	}
	for _, cc := range cs.codes {
		if title, ok := titles[cc.CardID]; ok && cc.OpenID == v.OpenID && len(v.Held) < pageLimit {
			v.Held = append(v.Held, heldCard{cc.Code, cc.CardID, title, localTime(cc.ReceivedAt), !cc.ConsumedAt.IsZero()})
		}
	}
	slices.SortFunc(v.Held, func(a, b heldCard) int { return compareStrings(b.ReceivedAt, a.ReceivedAt) })
}

// payIfAny is WeChat Pay's state when it has one (loaded, or on disk), else
// nil: a page that only shows it must not generate the keys (see pay).
func (s *Sandbox) payIfAny() *payState {
	s.payS.mu.Lock()
	loaded := s.payS.loaded
	s.payS.mu.Unlock()
	if !loaded {
		if _, err := os.Stat(filepath.Join(s.cfg.DataDir, payStateFile)); err != nil {
			return nil
		}
	}
	p, err := s.pay()
	if err != nil {
		s.log.Error("pay state", "err", err)
		return nil
	}
	return p
}

// fillUserOrders lists the app's latest orders at WeChat Pay.
func (s *Sandbox) fillUserOrders(v *userView) {
	p := s.payIfAny()
	if p == nil {
		return
	}
	p.mu.Lock()
	var list []*payOrder
	for _, o := range p.Orders {
		if o.SubAppID == v.AppID || (o.SubAppID == "" && o.SpAppID == v.AppID) {
			list = append(list, o)
		}
	}
	slices.SortFunc(list, func(a, b *payOrder) int { return b.CreatedAt.Compare(a.CreatedAt) })
	now := s.now()
	for _, o := range list {
		if len(v.Orders) == pageLimit {
			break
		}
		row := orderRow{OutTradeNo: o.OutTradeNo, SubMchID: o.SubMchID, Description: o.Description,
			Amount: fmt.Sprintf("¥%d.%02d", o.Total/100, o.Total%100), State: tradeStateDesc[o.State] + " " + o.State,
			CreatedAt: localTime(o.CreatedAt), OpenID: o.SubOpenID + o.SpOpenID}
		if o.State == "NOTPAY" {
			row.Expired = now.Sub(o.CreatedAt) >= prepayTTL
			row.Payable = !row.Expired
		}
		v.Orders = append(v.Orders, row)
	}
	p.mu.Unlock()
}

// POST /sandbox/ui/user/message {appid, openid, component_appid?, content}
func (s *Sandbox) handleUIUserMessage(w http.ResponseWriter, r *http.Request) {
	appid, openid := r.FormValue("appid"), r.FormValue("openid")
	res, _, err := s.sendUserMessage(r.Context(), appid, userMessage{ComponentAppID: r.FormValue("component_appid"), OpenID: openid, Content: r.FormValue("content")})
	if err != nil {
		backTo(w, r, "/sandbox/user", userQuery(appid, openid), true, "消息未发送 · not sent: "+err.Error())
		return
	}
	if res.Error != "" {
		backTo(w, r, "/sandbox/user", userQuery(appid, res.OpenID), true, "消息推送失败 · push failed: "+res.Error)
		return
	}
	backTo(w, r, "/sandbox/user", userQuery(appid, res.OpenID), false,
		fmt.Sprintf("已发送，平台回复 HTTP %d · sent, platform answered HTTP %d", res.Status, res.Status))
}

// POST /sandbox/ui/user/subscribe {appid, openid, template_id (1 to 3), accept "1"|""}:
// the user answers the 订阅 popup (POST /sandbox/api/apps/{appid}/subscribe).
func (s *Sandbox) handleUIUserSubscribe(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	appid, openid := r.FormValue("appid"), r.FormValue("openid")
	ids := r.Form["template_id"]
	if len(ids) == 0 {
		backTo(w, r, "/sandbox/user", userQuery(appid, openid), true, "请选择订阅消息模板 / choose a template")
		return
	}
	accept := r.FormValue("accept") == "1"
	status, answer := controlCall(r, s.handleSubscribe,
		subscribeRequest{ComponentAppID: r.FormValue("component_appid"), OpenID: openid, TemplateIDs: ids, Accept: accept}, "appid", appid)
	if status != http.StatusOK {
		backTo(w, r, "/sandbox/user", userQuery(appid, openid), true, "订阅未完成 · not answered: "+answerError(status, answer))
		return
	}
	var res messageResult
	json.Unmarshal(answer, &res)
	q := userQuery(appid, res.OpenID)
	if res.Error != "" {
		backTo(w, r, "/sandbox/user", q, true, "已记录，但推送 subscribe_msg_popup_event 失败 · recorded, the push failed: "+res.Error)
		return
	}
	word := "已拒绝 · rejected"
	if accept {
		word = "已允许 · accepted"
	}
	backTo(w, r, "/sandbox/user", q, false, fmt.Sprintf("%s %s，平台回复 HTTP %d · platform answered HTTP %d", word, strings.Join(ids, ", "), res.Status, res.Status))
}

// POST /sandbox/ui/user/subscribe-settings {appid, openid, template_id (1 or more), accept "1"|""}:
// the user switches the templates' 接收 off or back on in the mini
// program's settings (POST /sandbox/api/apps/{appid}/subscribe-settings).
func (s *Sandbox) handleUIUserSubscribeSettings(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	appid, openid := r.FormValue("appid"), r.FormValue("openid")
	ids := r.Form["template_id"]
	if len(ids) == 0 {
		backTo(w, r, "/sandbox/user", userQuery(appid, openid), true, "请选择订阅消息模板 / choose a template")
		return
	}
	accept := r.FormValue("accept") == "1"
	status, answer := controlCall(r, s.handleSubscribeSettings,
		subscribeSettingsRequest{ComponentAppID: r.FormValue("component_appid"), OpenID: openid, TemplateIDs: ids, Accept: accept}, "appid", appid)
	if status != http.StatusOK {
		backTo(w, r, "/sandbox/user", userQuery(appid, openid), true, "设置未改变 · settings unchanged: "+answerError(status, answer))
		return
	}
	var res subscribeSettingsResult
	json.Unmarshal(answer, &res)
	q := userQuery(appid, res.OpenID)
	switch {
	case res.Error != "":
		backTo(w, r, "/sandbox/user", q, true, "已记录，但推送 subscribe_msg_change_event 失败 · recorded, the push failed: "+res.Error)
	case accept:
		backTo(w, r, "/sandbox/user", q, false, "已恢复接收（须再次在弹窗中允许才能发送）· receiving again (the popup must grant a send again)")
	default:
		backTo(w, r, "/sandbox/user", q, false, fmt.Sprintf("已在设置中拒收，平台回复 HTTP %d · turned off, platform answered HTTP %d", res.Status, res.Status))
	}
}

// POST /sandbox/ui/user/card {appid, openid, card_id}: the user adds the
// card to their 卡包 (POST /sandbox/api/apps/{appid}/cards/{card_id}/receive).
func (s *Sandbox) handleUIUserCard(w http.ResponseWriter, r *http.Request) {
	appid, openid, cardID := r.FormValue("appid"), r.FormValue("openid"), r.FormValue("card_id")
	status, answer := controlCall(r, s.handleReceiveCard, map[string]string{"openid": openid}, "appid", appid, "card_id", cardID)
	if status != http.StatusOK {
		backTo(w, r, "/sandbox/user", userQuery(appid, openid), true, "未领取 · not received: "+answerError(status, answer))
		return
	}
	var res struct {
		Code   string `json:"code"`
		OpenID string `json:"openid"`
		Push   *struct {
			OK     bool `json:"ok"`
			Status int  `json:"status"`
		} `json:"push"`
	}
	json.Unmarshal(answer, &res)
	msg := "已领取，卡号 " + res.Code + " · received, code " + res.Code
	if res.Push != nil {
		msg += fmt.Sprintf("；user_get_card 已推送，平台回复 HTTP %d · pushed, platform answered HTTP %d", res.Push.Status, res.Push.Status)
	}
	backTo(w, r, "/sandbox/user", userQuery(appid, res.OpenID), res.Push != nil && !res.Push.OK, msg)
}

// POST /sandbox/ui/user/pay {appid, openid, sub_mchid, out_trade_no}: the
// user pays in WeChat (POST /sandbox/api/pay/orders/{no}/pay), refused for
// a paid, closed or expired order as WeChat Pay refuses it.
func (s *Sandbox) handleUIUserPay(w http.ResponseWriter, r *http.Request) {
	appid, openid, no := r.FormValue("appid"), r.FormValue("openid"), r.FormValue("out_trade_no")
	status, answer := controlCall(r, s.handlePayOrderPaid, map[string]string{"sub_mchid": r.FormValue("sub_mchid")}, "no", no)
	if status != http.StatusOK {
		backTo(w, r, "/sandbox/user", userQuery(appid, openid), true, "未付款 · not paid: "+answerError(status, answer))
		return
	}
	var res struct {
		TransactionID string `json:"transaction_id"`
	}
	json.Unmarshal(answer, &res)
	backTo(w, r, "/sandbox/user", userQuery(appid, openid), false,
		"已付款，微信支付订单号 "+res.TransactionID+"，支付通知已发往平台 · paid, transaction "+res.TransactionID+", the notification is on its way")
}
