package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// postForm posts a sandbox page's form and returns the page it redirects
// to, the flash message it carries and whether it is marked an error.
func (e *testEnv) postForm(path string, form url.Values) (string, string, bool) {
	e.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(e.srv.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("POST %s: HTTP %d, want 303 back to the page", path, resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	q := loc.Query()
	return loc.Path + "?" + loc.RawQuery, q.Get("flash"), q.Get("failed") != ""
}

// wantFlash checks a form's outcome: an error or not, its words.
func wantFlash(t *testing.T, what, flash string, failed, wantFailed bool, words ...string) {
	t.Helper()
	if failed != wantFailed {
		t.Errorf("%s: failed=%v, want %v (flash %q)", what, failed, wantFailed, flash)
	}
	for _, w := range words {
		if !strings.Contains(flash, w) {
			t.Errorf("%s: flash %q lacks %q", what, flash, w)
		}
	}
}

func (e *testEnv) page(path string) string {
	e.t.Helper()
	st, body := getPageFrom(e.t, e.srv.URL+path, "")
	if st != http.StatusOK {
		e.t.Fatalf("GET %s: HTTP %d\n%s", path, st, body)
	}
	return body
}

// The user page's message and subscribe forms do what the control API
// does: the message is pushed to the platform; an accepted template grants
// the send, which then shows under what the user received.
func TestUserPageMessageAndSubscribe(t *testing.T) {
	e := newCapEnv(t)
	tmpl := str(e.wx("/wxaapi/newtmpl/addtemplate?access_token="+e.access, map[string]any{"tid": "1001", "kidList": []int{1, 2, 3}}), "priTmplId")
	body := e.page("/sandbox/user?appid=" + AppBakery)
	for _, want := range []string{"麦香坊烘焙", e.openid, tmpl, `action="/sandbox/ui/user/subscribe"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the user page lacks %q", want)
		}
	}
	if home := e.page("/sandbox/"); !strings.Contains(home, `href="/sandbox/user"`) || !strings.Contains(home, `href="/sandbox/review"`) {
		t.Error("the home page does not link the user and reviewers' pages")
	}

	user := url.Values{"appid": {AppBakery}, "openid": {e.openid}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range user {
			v[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	loc, flash, failed := e.postForm("/sandbox/ui/user/message", with("content", "有全麦吐司吗"))
	wantFlash(t, "message", flash, failed, false, "已发送", "HTTP 200")
	if in := waitFor(t, e.plat.messages, "Content", "有全麦吐司吗"); in.Fields["FromUserName"] != e.openid {
		t.Errorf("the message came from %q, want %q", in.Fields["FromUserName"], e.openid)
	}
	if !strings.HasPrefix(loc, "/sandbox/user?") || !strings.Contains(loc, url.QueryEscape(e.openid)) {
		t.Errorf("after the message the page is %s, want the user page of %s", loc, e.openid)
	}
	_, flash, failed = e.postForm("/sandbox/ui/user/message", with("content", ""))
	wantFlash(t, "an empty message", flash, failed, true, "消息未发送", "content")

	send := func() map[string]any {
		return e.wx("/cgi-bin/message/subscribe/send?access_token="+e.access, map[string]any{"touser": e.openid, "template_id": tmpl,
			"data": map[string]any{"thing1": map[string]string{"value": "全麦吐司"}, "character_string2": map[string]string{"value": "A001"}, "time3": map[string]string{"value": "2026-12-03 12:30"}}})
	}
	wantErr(t, send(), 43101)
	_, flash, failed = e.postForm("/sandbox/ui/user/subscribe", with("accept", "1"))
	wantFlash(t, "no template chosen", flash, failed, true, "请选择")
	_, flash, failed = e.postForm("/sandbox/ui/user/subscribe", with("template_id", "no-such-template", "accept", "1"))
	wantFlash(t, "an unknown template", flash, failed, true, "订阅未完成", "no-such-template")
	_, flash, failed = e.postForm("/sandbox/ui/user/subscribe", with("template_id", tmpl, "accept", ""))
	wantFlash(t, "reject", flash, failed, false, "已拒绝")
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	wantErr(t, send(), 43101)
	_, flash, failed = e.postForm("/sandbox/ui/user/subscribe", with("template_id", tmpl, "accept", "1"))
	wantFlash(t, "accept", flash, failed, false, "已允许", tmpl)
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	if body := e.page("/sandbox/user?appid=" + AppBakery + "&openid=" + e.openid); !strings.Contains(body, "可发送 1 次") {
		t.Error("the user page does not show the send the user granted")
	}
	wantErr(t, send(), 0)
	wantErr(t, send(), 43101) // one accept, one send: as through the JSON API
	// Turned off in the settings: what the user grants is refused until turned back on.
	_, flash, failed = e.postForm("/sandbox/ui/user/subscribe-settings", with("template_id", tmpl, "accept", ""))
	wantFlash(t, "turn off", flash, failed, false, "已在设置中拒收")
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_change_event")
	e.postForm("/sandbox/ui/user/subscribe", with("template_id", tmpl, "accept", "1"))
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	wantErr(t, send(), 43101)
	_, flash, failed = e.postForm("/sandbox/ui/user/subscribe-settings", with("template_id", tmpl, "accept", "1"))
	wantFlash(t, "turn back on", flash, failed, false, "已恢复接收")
	e.postForm("/sandbox/ui/user/subscribe", with("template_id", tmpl, "accept", "1"))
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	wantErr(t, send(), 0)
	_, flash, failed = e.postForm("/sandbox/ui/user/subscribe-settings", with("accept", ""))
	wantFlash(t, "settings without a template", flash, failed, true, "请选择")
	body = e.page("/sandbox/user?appid=" + AppBakery + "&openid=" + e.openid)
	if !strings.Contains(body, `data-via="subscribe_send"`) || !strings.Contains(body, "全麦吐司") || !strings.Contains(body, "有全麦吐司吗") {
		t.Error("the user page does not show what the user sent and received")
	}

	st, body := getPageFrom(t, e.srv.URL+"/sandbox/user?appid=wx00000000000000ff", "")
	if st != http.StatusNotFound || !strings.Contains(body, "沙箱里没有帐号") {
		t.Errorf("an unknown appid: HTTP %d, want 404 saying so", st)
	}
}

// Cards: the reviewers pass or reject a card under review (the platform
// gets card_pass_check / card_not_pass_check); the user picks up a passed
// one (user_get_card) and holds it; a card not passed cannot be picked up.
func TestUserAndReviewPagesCards(t *testing.T) {
	e := newCodeEnv(t, AppLifeOA)
	if st, out := e.do(http.MethodPost, "/sandbox/api/card-rules", map[string]any{"delay": "24h"}); st != 200 {
		t.Fatalf("card-rules: %d %v", st, out)
	}
	create := func(title string) string {
		out := e.call(http.MethodPost, AppLifeOA, "/card/create", coupon(func(b map[string]any) { b["title"] = title }))
		wantErr(t, out, 0)
		return str(out, "card_id")
	}
	good, bad := create("满100减20"), create("满50减5")
	review := e.page("/sandbox/review?appid=" + AppLifeOA)
	if !strings.Contains(review, good) || !strings.Contains(review, bad) || !strings.Contains(review, `value="pass"`) {
		t.Fatal("the reviewers' page does not offer the cards under review")
	}
	userForm := url.Values{"appid": {AppLifeOA}, "openid": {"oCardUser0000000000000000001"}, "card_id": {good}}
	_, flash, failed := e.postForm("/sandbox/ui/user/card", userForm)
	wantFlash(t, "a card under review", flash, failed, true, "未领取", "卡券未通过审核")

	reviewForm := func(card, verdict, reason string) (string, bool) {
		_, flash, failed := e.postForm("/sandbox/ui/review/card", url.Values{"appid": {AppLifeOA}, "card_id": {card}, "verdict": {verdict}, "refuse_reason": {reason}, "filter": {AppLifeOA}})
		return flash, failed
	}
	flash, failed = reviewForm(good, "maybe", "")
	wantFlash(t, "a verdict that is neither", flash, failed, true, "未审核", "pass")
	flash, failed = reviewForm("pNOSUCHCARD", "pass", "")
	wantFlash(t, "an unknown card", flash, failed, true, "没有卡券")
	flash, failed = reviewForm(good, "pass", "")
	wantFlash(t, "pass", flash, failed, false, "已通过审核", "card_pass_check", "HTTP 200")
	if in := waitFor(t, e.plat.messages, "Event", "card_pass_check"); in.Fields["CardId"] != good {
		t.Errorf("card_pass_check for %q, want %q", in.Fields["CardId"], good)
	}
	flash, failed = reviewForm(good, "reject", "")
	wantFlash(t, "a card reviewed already", flash, failed, true, "已审核")
	flash, failed = reviewForm(bad, "reject", "图片模糊")
	wantFlash(t, "reject", flash, failed, false, "已驳回", "card_not_pass_check")
	if in := waitFor(t, e.plat.messages, "Event", "card_not_pass_check"); in.Fields["CardId"] != bad || in.Fields["RefuseReason"] != "图片模糊" {
		t.Errorf("card_not_pass_check = %v", in.Fields)
	}
	_, list := e.do(http.MethodGet, "/sandbox/api/apps/"+AppLifeOA+"/cards", nil)
	status := map[string]string{}
	for _, c := range list["cards"].([]any) {
		m := c.(map[string]any)
		status[str(m, "card_id")] = str(m, "status")
	}
	if status[good] != cardVerifyOK || status[bad] != cardVerifyNo {
		t.Errorf("after the reviews the control API says %v", status)
	}

	_, flash, failed = e.postForm("/sandbox/ui/user/card", userForm)
	wantFlash(t, "pick up", flash, failed, false, "已领取", "user_get_card")
	got := waitFor(t, e.plat.messages, "Event", "user_get_card")
	if got.Fields["CardId"] != good || got.Fields["FromUserName"] != "oCardUser0000000000000000001" {
		t.Errorf("user_get_card = %v", got.Fields)
	}
	page := e.page("/sandbox/user?appid=" + AppLifeOA + "&openid=oCardUser0000000000000000001")
	if !strings.Contains(page, got.Fields["UserCardCode"]) || !strings.Contains(page, "1 / 100") {
		t.Error("the user page does not show the card the user holds and the count issued")
	}
	userForm.Set("card_id", bad)
	_, flash, failed = e.postForm("/sandbox/ui/user/card", userForm)
	wantFlash(t, "a rejected card", flash, failed, true, "卡券未通过审核")

	// The JSON API the form wraps.
	third := create("满30减3")
	if st, out := e.do(http.MethodPost, "/sandbox/api/apps/"+AppLifeOA+"/cards/"+third+"/review", map[string]string{"verdict": "pass"}); st != 200 {
		t.Fatalf("review API: %d %v", st, out)
	}
	if st, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppLifeOA+"/cards/"+third+"/review", map[string]string{"verdict": "pass"}); st != http.StatusConflict {
		t.Errorf("reviewing twice through the API: HTTP %d, want 409", st)
	}
}

// Pay: the user page lists the app's orders with a 付款 button for an
// unpaid one; paying makes it SUCCESS at WeChat Pay; a paid, closed or
// expired order is refused in words.
func TestUserPagePay(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	sub := c.subMerchant("ui_pay_1", AppBakery)
	const uri = "/v3/pay/partner/transactions/jsapi"
	for _, no := range []string{"ui_order_1", "ui_order_closed"} {
		if st, out := c.call("POST", uri, c.order(sub, AppBakery, no, 1500), "", nil); st != 200 {
			t.Fatalf("order %s: %d %v", no, st, out)
		}
	}
	if st, out := c.call("POST", "/v3/pay/partner/transactions/out-trade-no/ui_order_closed/close",
		map[string]string{"sp_mchid": c.m["sp_mchid"], "sub_mchid": sub}, "", nil); st != 204 {
		t.Fatalf("close: %d %v", st, out)
	}
	page := e.page("/sandbox/user?appid=" + AppBakery)
	if !strings.Contains(page, `data-order="ui_order_1"`) || !strings.Contains(page, "¥15.00") || !strings.Contains(page, `name="out_trade_no" value="ui_order_1"`) {
		t.Fatal("the user page does not offer the unpaid order")
	}
	if strings.Contains(page, `name="out_trade_no" value="ui_order_closed"`) {
		t.Error("the user page offers to pay a closed order")
	}
	pay := func(no, subMch string) (string, bool) {
		_, flash, failed := e.postForm("/sandbox/ui/user/pay", url.Values{"appid": {AppBakery}, "sub_mchid": {subMch}, "out_trade_no": {no}})
		return flash, failed
	}
	query := func(no string) string {
		_, out := c.call("GET", "/v3/pay/partner/transactions/out-trade-no/"+no+"?sp_mchid="+c.m["sp_mchid"]+"&sub_mchid="+sub, nil, "", nil)
		return str(out, "trade_state")
	}
	flash, failed := pay("ui_order_1", sub)
	wantFlash(t, "pay", flash, failed, false, "已付款", "4200")
	if st := query("ui_order_1"); st != "SUCCESS" {
		t.Errorf("after paying on the page WeChat Pay says %s", st)
	}
	flash, failed = pay("ui_order_1", sub)
	wantFlash(t, "paying twice", flash, failed, true, "订单已支付", "ORDERPAID")
	flash, failed = pay("ui_order_closed", sub)
	wantFlash(t, "a closed order", flash, failed, true, "订单已关闭", "ORDER_CLOSED")
	flash, failed = pay("ui_order_nope", sub)
	wantFlash(t, "an unknown order", flash, failed, true, "没有这个订单")
	flash, failed = pay("ui_order_1", "")
	wantFlash(t, "no sub_mchid", flash, failed, true, "未付款", "PARAM_ERROR")

	if st, out := c.call("POST", uri, c.order(sub, AppBakery, "ui_order_late", 800), "", nil); st != 200 {
		t.Fatalf("order: %d %v", st, out)
	}
	e.advance("3h")
	c = newPayClient(e)
	if page := e.page("/sandbox/user?appid=" + AppBakery); !strings.Contains(page, "已过期") || strings.Contains(page, `value="ui_order_late"`) {
		t.Error("the user page does not show the expired order as expired")
	}
	flash, failed = pay("ui_order_late", sub)
	wantFlash(t, "an expired order", flash, failed, true, "已过期", "PREPAY_EXPIRED")
	if st := query("ui_order_late"); st != "NOTPAY" {
		t.Errorf("the expired order is %s", st)
	}
}

// The reviewers decide a WeChat Pay application on their page: a
// rejection needs a reason and names it; approving moves it to the state
// chosen, FINISHED opening the sub-merchant; a decided one is refused.
func TestReviewPageApplyment(t *testing.T) {
	e := newEnv(t)
	c := newPayClient(e)
	const code = "ui_review_1"
	submitForm := func() {
		if st, out := c.call("POST", "/v3/applyment4sub/applyment/", c.form(code), "", c.serialHeader()); st != 200 {
			t.Fatalf("submit: %d %v", st, out)
		}
	}
	submitForm()
	state := func() map[string]any {
		_, out := c.call("GET", "/v3/applyment4sub/applyment/business_code/"+code, nil, "", nil)
		return out
	}
	if page := e.page("/sandbox/review"); !strings.Contains(page, `data-code="`+code+`"`) || !strings.Contains(page, "张三小吃") {
		t.Fatal("the reviewers' page does not list the application")
	}
	decide := func(kv ...string) (string, bool) {
		v := url.Values{"business_code": {code}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		_, flash, failed := e.postForm("/sandbox/ui/review/applyment", v)
		return flash, failed
	}
	flash, failed := decide("result", "reject", "reason", " ")
	wantFlash(t, "a rejection without a reason", flash, failed, true, "驳回须写明原因")
	flash, failed = decide("result", "maybe")
	wantFlash(t, "an unknown result", flash, failed, true, "未审核", "参数错误")
	flash, failed = decide("result", "reject", "reason", "身份证国徽面模糊", "field", "id_card_national 身份证国徽面照片")
	wantFlash(t, "reject", flash, failed, false, "已驳回")
	if out := state(); str(out, "applyment_state") != applyRejected || !strings.Contains(fmt.Sprint(out["audit_detail"]), "身份证国徽面模糊") {
		t.Errorf("after the rejection WeChat Pay says %v", out)
	}
	flash, failed = decide("result", "approve")
	wantFlash(t, "deciding a rejected one", flash, failed, true, "不能再审")
	submitForm()
	flash, failed = decide("result", "approve", "state", "TO_BE_SIGNED")
	wantFlash(t, "approve to be signed", flash, failed, false, "待签约")
	flash, failed = decide("result", "approve", "state", "FINISHED")
	wantFlash(t, "approve", flash, failed, false, "已完成", "sub_mchid")
	if out := state(); str(out, "applyment_state") != applyFinished || str(out, "sub_mchid") == "" {
		t.Errorf("after approving WeChat Pay says %v", out)
	}
	_, flash, failed = e.postForm("/sandbox/ui/review/applyment", url.Values{"business_code": {"nope"}, "result": {"approve"}})
	wantFlash(t, "an unknown application", flash, failed, true, "没有这个申请单")

	// The merchant platform's binding: then WeChat Pay takes the app's orders.
	sub := str(state(), "sub_mchid")
	if page := e.page("/sandbox/review"); !strings.Contains(page, `data-sub="`+sub+`"`) {
		t.Fatal("the reviewers' page does not list the sub-merchant")
	}
	order := c.order(sub, AppBakery, "ui_bind_1", 100)
	st, out := c.call("POST", "/v3/pay/partner/transactions/jsapi", order, "", nil)
	wantPayErr(t, st, out, 403, "NO_AUTH")
	_, flash, failed = e.postForm("/sandbox/ui/pay/bind", url.Values{"sub_mchid": {sub}, "appid": {" "}})
	wantFlash(t, "no appid", flash, failed, true, "请填写")
	_, flash, failed = e.postForm("/sandbox/ui/pay/bind", url.Values{"sub_mchid": {"1699999999"}, "appid": {AppBakery}})
	wantFlash(t, "an unknown sub-merchant", flash, failed, true, "没有这个特约商户")
	_, flash, failed = e.postForm("/sandbox/ui/pay/bind", url.Values{"sub_mchid": {sub}, "appid": {AppBakery}})
	wantFlash(t, "bind", flash, failed, false, "已将", sub)
	if st, out := c.call("POST", "/v3/pay/partner/transactions/jsapi", order, "", nil); st != 200 {
		t.Errorf("an order after binding on the page: %d %v", st, out)
	}
}

// The user page lists a short choice of accounts, never all of them.
func TestUserPageListsFewAccounts(t *testing.T) {
	e := newEnv(t)
	if st, out := e.do(http.MethodPost, "/sandbox/api/apps/bulk", map[string]any{"count": 50, "authorize": true}); st != 200 {
		t.Fatalf("bulk: %d %v", st, out)
	}
	body := e.page("/sandbox/user")
	if n := strings.Count(body, `href="/sandbox/user?appid=`); n == 0 || n > 10 {
		t.Errorf("the user page links %d accounts, want 1 to 10", n)
	}
}

// Showing the pages does not make WeChat Pay's keys: a sandbox that never
// sees a payment pays nothing for them.
func TestPagesDoNotMakePayKeys(t *testing.T) {
	e := newCapEnv(t)
	e.page("/sandbox/user?appid=" + AppBakery)
	e.page("/sandbox/review")
	if _, err := os.Stat(filepath.Join(e.dir, payStateFile)); !os.IsNotExist(err) {
		t.Errorf("after showing the pages the pay state is on disk (%v)", err)
	}
}
