package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Views of the reviewers' page.
type (
	reviewView struct {
		Flash      string
		Failed     bool
		AppID      string // the card filter; "" for every app
		Applyments []applymentRow
		Cards      []reviewCardRow
		Subs       []subMerchantRow
		Rules      cardRules
	}
	applymentRow struct {
		BusinessCode, Shortname, State, StateMsg, SubMchID, SubmittedAt, Reason string
		Open                                                                    bool // still to be decided
	}
	subMerchantRow struct {
		SubMchID, Name, AppIDs string
	}
	reviewCardRow struct {
		AppID, CardID, Type, Title, Status, RefuseReason, CreatedAt string
		Pending                                                     bool
	}
)

// GET /sandbox/review?appid=: WeChat's reviewers — WeChat Pay's
// applications and the cards under review (of one app, or the latest).
func (s *Sandbox) handleReviewPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := reviewView{Flash: q.Get("flash"), Failed: q.Get("failed") != "", AppID: strings.TrimSpace(q.Get("appid"))}
	if p := s.payIfAny(); p != nil {
		p.mu.Lock()
		var list []*payApplyment
		for _, a := range p.Applyments {
			list = append(list, a)
		}
		// Open ones first, then the newest.
		slices.SortFunc(list, func(a, b *payApplyment) int {
			if ao, bo := applymentOpen(a.State), applymentOpen(b.State); ao != bo {
				if ao {
					return -1
				}
				return 1
			}
			return b.SubmittedAt.Compare(a.SubmittedAt)
		})
		for _, a := range list[:min(len(list), pageLimit)] {
			row := applymentRow{BusinessCode: a.BusinessCode, Shortname: a.Shortname, State: a.State, StateMsg: applyStateMsg[a.State],
				SubMchID: a.SubMchID, SubmittedAt: localTime(a.SubmittedAt), Open: applymentOpen(a.State)}
			if len(a.AuditDetail) > 0 {
				row.Reason = a.AuditDetail[0].FieldName + "：" + a.AuditDetail[0].RejectReason
			}
			v.Applyments = append(v.Applyments, row)
		}
		var subs []*paySubMerchant
		for _, m := range p.SubMerchants {
			subs = append(subs, m)
		}
		slices.SortFunc(subs, func(a, b *paySubMerchant) int { return compareStrings(b.SubMchID, a.SubMchID) }) // the newest first
		for _, m := range subs[:min(len(subs), pageLimit)] {
			v.Subs = append(v.Subs, subMerchantRow{m.SubMchID, m.Name, strings.Join(m.AppIDs, ", ")})
		}
		p.mu.Unlock()
	}
	cs := s.cards
	cs.mu.Lock()
	cs.decideAllLocked()
	v.Rules = cs.meta.Rules
	var cards []*sbCard
	for _, c := range cs.cards {
		if v.AppID == "" || c.AppID == v.AppID {
			cards = append(cards, c)
		}
	}
	slices.SortFunc(cards, func(a, b *sbCard) int {
		if ap, bp := a.Status == cardNotVerify, b.Status == cardNotVerify; ap != bp {
			if ap {
				return -1
			}
			return 1
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	for _, c := range cards[:min(len(cards), pageLimit)] {
		v.Cards = append(v.Cards, reviewCardRow{c.AppID, c.ID, c.Type, c.Title, c.Status, c.RefuseReason, localTime(c.CreatedAt), c.Status == cardNotVerify})
	}
	cs.mu.Unlock()
	s.render(w, http.StatusOK, "review.html", v)
}

// applymentOpen tells whether WeChat Pay still has to decide an application.
func applymentOpen(state string) bool {
	return state != applyFinished && state != applyCanceled && state != applyRejected
}

// POST /sandbox/ui/review/applyment {business_code, result, state?, reason?, field?}:
// WeChat Pay's audit (POST /sandbox/api/pay/applyments/{code}/decide).
func (s *Sandbox) handleUIReviewApplyment(w http.ResponseWriter, r *http.Request) {
	code, result := r.FormValue("business_code"), r.FormValue("result")
	body := map[string]string{"result": result, "state": r.FormValue("state"), "reason": strings.TrimSpace(r.FormValue("reason"))}
	if f := r.FormValue("field"); f != "" {
		body["field"], body["field_name"], _ = strings.Cut(f, " ")
	}
	if result == "reject" && body["reason"] == "" {
		backTo(w, r, "/sandbox/review", nil, true, "驳回须写明原因 / a rejection needs a reason")
		return
	}
	status, answer := controlCall(r, s.handlePayDecide, body, "code", code)
	if status != http.StatusOK {
		backTo(w, r, "/sandbox/review", nil, true, "申请单 "+code+" 未审核 · not decided: "+answerError(status, answer))
		return
	}
	var res struct {
		State    string `json:"applyment_state"`
		StateMsg string `json:"applyment_state_msg"`
		SubMchID string `json:"sub_mchid"`
	}
	json.Unmarshal(answer, &res)
	msg := fmt.Sprintf("申请单 %s 现为%s · application %s is now %s", code, res.StateMsg, code, res.State)
	if res.SubMchID != "" {
		msg += "，特约商户号 " + res.SubMchID + " · sub_mchid " + res.SubMchID
	}
	backTo(w, r, "/sandbox/review", nil, false, msg)
}

// POST /sandbox/ui/review/card {appid, card_id, verdict, refuse_reason?}:
// the card's audit (POST /sandbox/api/apps/{appid}/cards/{card_id}/review).
func (s *Sandbox) handleUIReviewCard(w http.ResponseWriter, r *http.Request) {
	appid, cardID := r.FormValue("appid"), r.FormValue("card_id")
	q := url.Values{}
	if f := r.FormValue("filter"); f != "" {
		q.Set("appid", f)
	}
	res, status, err := s.reviewCard(r, appid, cardID, cardReview{Verdict: r.FormValue("verdict"), RefuseReason: strings.TrimSpace(r.FormValue("refuse_reason"))})
	if err != nil {
		backTo(w, r, "/sandbox/review", q, true, fmt.Sprintf("卡券 %s 未审核 · not reviewed (HTTP %d): %s", cardID, status, err))
		return
	}
	event := "card_pass_check"
	word := "已通过审核 · passed"
	if r.FormValue("verdict") == "reject" {
		event, word = "card_not_pass_check", "已驳回 · rejected"
	}
	msg := fmt.Sprintf("卡券 %s %s；%s 已推送，平台回复 HTTP %d · pushed, platform answered HTTP %d", cardID, word, event, res.Status, res.Status)
	if !res.OK {
		msg = fmt.Sprintf("卡券 %s %s，但 %s 推送失败 · but the push failed: %s", cardID, word, event, errString(res))
	}
	backTo(w, r, "/sandbox/review", q, !res.OK, msg)
}

// POST /sandbox/ui/pay/bind {sub_mchid, appid}: the provider binds a mini
// program to the sub-merchant in WeChat Pay's merchant platform (特约商户
// APPID 配置; POST /sandbox/api/pay/sub-merchants/{sub_mchid}/appids).
func (s *Sandbox) handleUIPayBind(w http.ResponseWriter, r *http.Request) {
	sub, appid := r.FormValue("sub_mchid"), strings.TrimSpace(r.FormValue("appid"))
	if appid == "" {
		backTo(w, r, "/sandbox/review", nil, true, "请填写要绑定的 appid / give the appid to bind")
		return
	}
	status, answer := controlCall(r, s.handlePayBind, map[string]string{"appid": appid}, "sub_mchid", sub)
	if status != http.StatusOK {
		backTo(w, r, "/sandbox/review", nil, true, "未绑定 · not bound: "+answerError(status, answer))
		return
	}
	backTo(w, r, "/sandbox/review", nil, false, fmt.Sprintf("已将 %s 绑定到特约商户 %s · %s is bound to sub-merchant %s", appid, sub, appid, sub))
}
