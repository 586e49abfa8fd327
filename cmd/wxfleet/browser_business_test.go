package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserBusiness: the whole business in the browser, both sides of
// it — the operator in the console, WeChat's user and reviewers on the
// sandbox's pages (/sandbox/user, /sandbox/review). A user's message from
// the sandbox reaches the console's inbox and the operator's reply the
// user; a subscribe send is refused (43101) until the user accepts the
// template in the popup, then sent; a coupon made in the console is passed
// by WeChat's reviewers and picked up by a user, the console's counts
// following; a sub-merchant application is approved by the reviewers and
// an order the mini program made is paid by the user, the console's pay
// page showing it paid. Each step is saved as a screenshot.
func TestBrowserBusiness(t *testing.T) {
	ctx := browser(t, 10*time.Minute)
	d := bootDemo(t)
	app := d.miniPrograms()[1].AppID // its categories have the library's tid 1001
	d.authorizeApp(app)
	oa := d.authorizeOA()
	base, sb := d.Platform.URL(), d.SandboxURL
	q := "?platform=" + demoPlatform.AppID
	shots := newScreenshots(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil { // the browser's first run: see browserDo
		t.Fatal(err)
	}
	// press clicks a sandbox form's button, waits for the page it lands on
	// (the navigation's answer) and checks its flash.
	press := func(where, button string, want ...string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, browserWait)
		resp, err := chromedp.RunResponse(wctx, chromedp.Click(css(button)))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if resp.Status != 200 {
			t.Fatalf("%s: the form landed on HTTP %d %s", where, resp.Status, resp.URL)
		}
		browserDo(t, ctx, where, chromedp.WaitVisible(css("#flash")))
		text := browserText(t, ctx, "#flash")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Fatalf("%s: the sandbox says %q, want %q", where, text, w)
			}
		}
		if failed := browserEval[bool](t, ctx, `document.getElementById('flash').classList.contains('failed')`); failed {
			t.Fatalf("%s: the sandbox refused: %q", where, text)
		}
	}
	// until reloads page until expr holds: what another side did shows on
	// the next load (a push may land a moment after the form's answer).
	until := func(what, page, expr string) {
		t.Helper()
		deadline := time.Now().Add(browserWait)
		for {
			browserDo(t, ctx, what, chromedp.Navigate(page), chromedp.WaitReady(css("body")))
			if browserEval[bool](t, ctx, expr) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never true on %s: %s\n%s", what, page, expr, browserText(t, ctx, "main"))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	// The sandbox's home links WeChat's people.
	browserDo(t, ctx, "the sandbox's home",
		chromedp.Navigate(sb+"/sandbox/"),
		chromedp.WaitVisible(css(`#people a[href="/sandbox/user"]`)),
		chromedp.Click(css(`#people a[href="/sandbox/user"]`)),
		chromedp.WaitVisible(css("#choose")),
		chromedp.SendKeys(css("#u-appid"), app),
		chromedp.Click(css(`#choose button[type="submit"]`)),
		chromedp.WaitVisible(css("#message")),
	)
	browserA11y(t, ctx, "the sandbox's user page")
	shots.save(ctx, "business-01-sandbox-user")

	// 1. Customer service: the user writes, the operator answers.
	browserDo(t, ctx, "the user writes",
		chromedp.SendKeys(css("#m-content"), "请问今天营业吗？"),
	)
	press("the user's message", "#send-message", "已发送")
	openid := strings.TrimSpace(browserText(t, ctx, "#openid"))
	if !strings.HasPrefix(openid, "o") {
		t.Fatalf("the user page names the user %q", openid)
	}
	shots.save(ctx, "business-02-user-message-sent")

	browserSignIn(t, ctx, base, d.OwnerEmail, d.OwnerPassword)
	inbox := base + "/authorizers/" + app + "/inbox" + q
	until("the conversation in the console's inbox", inbox, `!!document.querySelector('#conversations tr[data-openid=`+jsString(openid)+`]')`)
	browserDo(t, ctx, "the conversation",
		chromedp.Click(css(`#conversations tr[data-openid="`+openid+`"] a`)),
		chromedp.WaitVisible(css("#reply")),
	)
	if msgs := browserText(t, ctx, "#messages"); !strings.Contains(msgs, "请问今天营业吗？") {
		t.Fatalf("the conversation shows %q", msgs)
	}
	browserDo(t, ctx, "the operator replies",
		chromedp.SendKeys(css("#reply-content"), "营业的，九点到九点"),
		chromedp.Click(css("#send-reply")),
		chromedp.WaitVisible(css("#sent")),
	)
	shots.save(ctx, "business-03-console-reply")
	userPage := sb + "/sandbox/user?appid=" + app + "&openid=" + openid
	until("the reply among what the user received", userPage,
		`[...document.querySelectorAll('#received tr[data-via="custom_send"]')].some(r => r.textContent.includes('营业的，九点到九点'))`)
	shots.save(ctx, "business-04-user-received-reply")
	browserDo(t, ctx, "the sandbox's outbox", chromedp.Navigate(sb+"/sandbox/"), chromedp.WaitVisible(css("main")))
	if out := browserText(t, ctx, "main"); !strings.Contains(out, "营业的，九点到九点") {
		t.Error("the sandbox's customer-service outbox lacks the reply")
	}

	// 2. Subscribe messages: a template from the library; refused without
	// the user's consent, sent after it.
	browserDo(t, ctx, "the library's template",
		chromedp.Navigate(base+"/authorizers/"+app+"/subscribe/library"+q+"&category=616&tid=1001"),
		chromedp.WaitVisible(css("#add-template")),
		chromedp.Click(css(`#add-template input[name="kid"][value="1"]`)),
		chromedp.Click(css(`#add-template input[name="kid"][value="2"]`)),
		chromedp.Click(css(`#add-template input[name="kid"][value="3"]`)),
		chromedp.Click(css("#add-subscribe-template")),
		chromedp.WaitVisible(css("#added")),
	)
	tmpl := strings.TrimSpace(browserText(t, ctx, "#added code"))
	sendSubscribe := func() {
		t.Helper()
		browserDo(t, ctx, "the subscribe send",
			chromedp.Navigate(base+"/authorizers/"+app+"/subscribe"+q),
			chromedp.WaitVisible(css("#send")),
			chromedp.SendKeys(css("#sub-openid"), openid),
			chromedp.SetValue(css("#sub-template"), tmpl),
			chromedp.SetValue(css("#sub-data"), "thing1=全麦吐司\ncharacter_string2=20261203001\ntime3=2026-12-03 12:30"),
			chromedp.Click(css("#send-subscribe")),
			chromedp.WaitVisible(css("#error, #sent")),
		)
	}
	sendSubscribe()
	if !browserEval[bool](t, ctx, `!!document.getElementById('error')`) || !strings.Contains(browserText(t, ctx, "#error"), "43101") {
		t.Fatalf("a send before the user's consent is not refused with 43101: %s", browserText(t, ctx, "main"))
	}
	shots.save(ctx, "business-05-subscribe-refused-43101")

	browserDo(t, ctx, "the user accepts the template",
		chromedp.Navigate(userPage),
		chromedp.WaitVisible(css(`#subscribe tr[data-template="`+tmpl+`"]`)),
		chromedp.Click(css(`#subscribe input[name="template_id"][value="`+tmpl+`"]`)),
	)
	press("the user's consent", "#accept", "已允许", tmpl)
	if c := browserText(t, ctx, `#subscribe tr[data-template="`+tmpl+`"] .consent`); !strings.Contains(c, "可发送 1 次") {
		t.Errorf("after accepting the user page shows %q", c)
	}
	browserA11y(t, ctx, "the user page after the consent")
	shots.save(ctx, "business-06-user-accepts")
	sendSubscribe()
	if !browserEval[bool](t, ctx, `!!document.getElementById('sent')`) {
		t.Fatalf("the send after the consent failed: %s", browserText(t, ctx, "main"))
	}
	shots.save(ctx, "business-07-subscribe-sent")
	until("the subscribe message among what the user received", userPage,
		`[...document.querySelectorAll('#received tr[data-via="subscribe_send"]')].some(r => r.textContent.includes('全麦吐司'))`)

	// 3. A coupon: made in the console, passed by WeChat's reviewers,
	// picked up by a user. The reviewers decide, not the rules' delay.
	if st := d.sandbox("POST", "/sandbox/api/card-rules", map[string]any{"delay": "24h"}, nil); st != 200 {
		t.Fatalf("card rules: %d", st)
	}
	cards := base + "/authorizers/" + oa + "/cards" + q
	browserDo(t, ctx, "the coupon form",
		chromedp.Navigate(cards),
		chromedp.WaitVisible(css("#new-coupon")),
		chromedp.SetValue(css("#c-type"), "GENERAL_COUPON"),
		chromedp.SendKeys(css("#c-title"), "满100减20"),
		chromedp.SendKeys(css("#c-brand"), "西湖生活"),
		chromedp.SendKeys(css("#c-logo"), "http://mmbiz.qpic.cn/mmbiz/demo-logo/0"),
		chromedp.SendKeys(css("#c-notice"), "出示二维码核销"),
		chromedp.SendKeys(css("#c-desc"), "不与其他优惠同享"),
		chromedp.SetValue(css("#c-color"), "Color020"),
		chromedp.SetValue(css("#c-qty"), "500"),
		chromedp.SetValue(css("#c-term"), "30"),
		chromedp.SetValue(css("#c-detail"), "全场满100元减20元"),
		chromedp.Click(css("#create-coupon")),
		chromedp.WaitVisible(css("#made")),
	)
	cardID := strings.TrimSpace(browserText(t, ctx, "#made code"))
	row := `#cards tr[data-card="` + cardID + `"]`
	if r := browserText(t, ctx, row); !strings.Contains(r, "审核中") {
		t.Fatalf("the new coupon's row: %q", r)
	}
	shots.save(ctx, "business-08-coupon-made")
	browserDo(t, ctx, "WeChat's reviewers",
		chromedp.Navigate(sb+"/sandbox/"),
		chromedp.Click(css(`#people a[href="/sandbox/review"]`)),
		chromedp.WaitVisible(css(`#cards tr[data-card="`+cardID+`"] button.pass`)),
	)
	browserA11y(t, ctx, "the sandbox's reviewers' page")
	shots.save(ctx, "business-09-review-card")
	press("the reviewers pass the coupon", `#cards tr[data-card="`+cardID+`"] button.pass`, "已通过审核", "card_pass_check")
	until("the coupon approved in the console", cards, `document.querySelector(`+jsString(row)+`).textContent.includes('已通过')`)
	if n := browserText(t, ctx, row+" .issued"); n != "0" {
		t.Fatalf("issued before any user picked it up: %q", n)
	}
	browserDo(t, ctx, "the user picks the coupon up",
		chromedp.Navigate(sb+"/sandbox/user?appid="+oa),
		chromedp.WaitVisible(css(`#cards tr[data-card="`+cardID+`"] button`)),
	)
	press("the user picks the coupon up", `#cards tr[data-card="`+cardID+`"] button`, "已领取", "user_get_card")
	if held := browserText(t, ctx, "#held"); !strings.Contains(held, "满100减20") {
		t.Errorf("the user's cards: %q", held)
	}
	shots.save(ctx, "business-10-user-picked-up")
	until("1 issued in the console", cards, `document.querySelector(`+jsString(row+" .issued")+`).textContent === '1'`)
	shots.save(ctx, "business-11-coupon-issued")

	// 4. WeChat Pay: the operator submits a sub-merchant application, the
	// reviewers approve it; the sub-merchant and the mini program are bound
	// on both sides (the console, WeChat Pay's merchant platform); an order
	// the mini program made is paid by the user.
	// The structured form, field by field, as a person fills it.
	fill := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/pay" + q), chromedp.WaitVisible(css("#new-applyment"))}
	fields := applymentFields(app)
	fields.Set("business_code", "wxf_business_1")
	for name := range fields {
		fill = append(fill, chromedp.SetValue(css("#af-"+name), fields.Get(name)))
	}
	fill = append(fill, chromedp.Click(css("#submit-applyment")), chromedp.WaitVisible(css("#applyment, #error")))
	browserDo(t, ctx, "the operator's application", fill...)
	if browserEval[bool](t, ctx, `!!document.getElementById('error')`) {
		t.Fatalf("the application was refused: %s", browserText(t, ctx, "#error"))
	}
	if st := browserText(t, ctx, "#state"); !strings.Contains(st, "审核中") {
		t.Errorf("the submitted application's state: %q", st)
	}
	applymentID, _ := strconv.ParseInt(browserEval[string](t, ctx, `document.getElementById('applyment').dataset.applyment`), 10, 64)
	browserDo(t, ctx, "the reviewers' applications",
		chromedp.Navigate(sb+"/sandbox/review"),
		chromedp.WaitVisible(css(`#applyments tr[data-code="wxf_business_1"] button.approve`)),
	)
	shots.save(ctx, "business-12-review-applyment")
	press("the reviewers approve", `#applyments tr[data-code="wxf_business_1"] button.approve`, "已完成", "sub_mchid")
	sub := d.applyment(applymentID).SubMchID // the platform asks WeChat Pay
	if sub == "" {
		t.Fatal("the approved application has no sub_mchid on the platform")
	}
	browserDo(t, ctx, "WeChat Pay's merchant platform binds the mini program",
		chromedp.WaitVisible(css(`#sub-merchants tr[data-sub="`+sub+`"]`)),
		chromedp.SendKeys(css(`#b-`+sub), app),
	)
	press("the merchant platform's binding", `#sub-merchants tr[data-sub="`+sub+`"] button`, "已将", sub)
	browserDo(t, ctx, "the console binds the mini program",
		chromedp.Navigate(base+"/pay"+q),
		chromedp.WaitVisible(css("#bind")),
		chromedp.SendKeys(css("#b-sub"), sub),
		chromedp.SendKeys(css("#b-app"), app),
		chromedp.Click(css(`#bind button[type="submit"]`)),
		chromedp.WaitVisible(css(`#bind [role="status"], #bind-error`)),
	)
	if browserEval[bool](t, ctx, `!!document.getElementById('bind-error')`) {
		t.Fatalf("the console's binding failed: %s", browserText(t, ctx, "#bind-error"))
	}
	user := d.loginCode(app, map[string]string{"openid": openid})
	st, _, token := d.runtimeLogin(app, user.Code)
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	const no = "wxf_business_0001"
	if st, _, raw := d.runtime("POST", "/runtime/v1/pay/orders", token, nil, map[string]any{"description": "全麦吐司", "amount": 1800, "out_trade_no": no}); st != 200 {
		t.Fatalf("order: %d %s", st, raw)
	}
	orderRow := `#orders tr[data-order="` + no + `"]`
	browserDo(t, ctx, "the user's order",
		chromedp.Navigate(userPage),
		chromedp.WaitVisible(css(orderRow+" button")),
	)
	if r := browserText(t, ctx, orderRow); !strings.Contains(r, "¥18.00") || !strings.Contains(r, "NOTPAY") {
		t.Fatalf("the order's row on the user page: %q", r)
	}
	shots.save(ctx, "business-13-user-order")
	press("the user pays", orderRow+" button", "已付款")
	if r := browserText(t, ctx, orderRow); !strings.Contains(r, "SUCCESS") {
		t.Errorf("after paying the order's row: %q", r)
	}
	shots.save(ctx, "business-14-user-paid")
	until("the order paid on the console's pay page", base+"/pay"+q,
		fmt.Sprintf(`[...document.querySelectorAll('#orders tr')].some(r => r.textContent.includes(%s) && r.textContent.includes('已支付'))`, jsString(no)))
	browserA11y(t, ctx, "the console's pay page")
	shots.save(ctx, "business-15-console-paid")

	// 5. Without a mini program at hand: the operator places a 0.01 yuan test
	// order for the same user from /pay, the user pays it on the sandbox's
	// page, the order's page shows it paid, and the operator refunds it there.
	browserDo(t, ctx, "the operator's test order",
		chromedp.Navigate(base+"/pay"+q),
		chromedp.WaitVisible(css("#place-test-order")),
		chromedp.SetValue(css("#t-app"), app),
		chromedp.SendKeys(css("#t-openid"), openid),
		chromedp.Click(css("#place-test-order")),
		chromedp.WaitVisible(css("#order, #test-order-error")),
	)
	if browserEval[bool](t, ctx, `!!document.getElementById('test-order-error')`) {
		t.Fatalf("the test order was refused: %s", browserText(t, ctx, "#test-order-error"))
	}
	orderPage := browserLocation(t, ctx)
	m := regexp.MustCompile(`/pay/orders/([^?]+)\?`).FindStringSubmatch(orderPage)
	if m == nil {
		t.Fatalf("the test order landed on %s, not its order page", orderPage)
	}
	testNo := m[1]
	if amt := browserText(t, ctx, "#amount"); !strings.Contains(amt, "0.01") {
		t.Errorf("the test order's amount: %q", amt)
	}
	browserA11y(t, ctx, "the order page")
	shots.save(ctx, "business-16-test-order")
	testRow := `#orders tr[data-order="` + testNo + `"]`
	browserDo(t, ctx, "the user's test order",
		chromedp.Navigate(userPage),
		chromedp.WaitVisible(css(testRow+" button")),
	)
	press("the user pays the test order", testRow+" button", "已付款")
	until("the test order paid on its page", orderPage, `document.getElementById('state').textContent.includes('已支付')`)
	browserDo(t, ctx, "the operator refunds the test order",
		chromedp.WaitVisible(css("#refund-form")),
		chromedp.SetValue(css("#r-amount"), "0.01"),
		chromedp.SendKeys(css("#r-reason"), "测试退款"),
		chromedp.Click(css("#refund")),
		chromedp.WaitVisible(css("#refunded, #refund-error")),
	)
	if browserEval[bool](t, ctx, `!!document.getElementById('refund-error')`) {
		t.Fatalf("the refund was refused: %s", browserText(t, ctx, "#refund-error"))
	}
	if list := browserText(t, ctx, "#refund-list"); !strings.Contains(list, "0.01") {
		t.Errorf("the refunds after the refund: %q", list)
	}
	shots.save(ctx, "business-17-refunded")
	t.Logf("screenshots in %s", strings.Join(shots.dirs, ", "))
}
