package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// The reviewers' decision on one card: WeChat's card audit is a person's
// verdict, which the sandbox otherwise makes from its rules after their
// delay (decideAllLocked). A reviewer can pass or reject a card still under
// review before that, from the 审核 page or POST …/cards/{card_id}/review.

// verdictLocked records the verdict on a card under review and returns the
// card_pass_check or card_not_pass_check push that tells the platform.
// Callers hold cs.mu and flush.
func (cs *cardState) verdictLocked(c *sbCard, pass bool, reason string) (pushJob, bool) {
	var x xmlDoc
	x.str("ToUserName", c.UserName)
	x.str("FromUserName", systemOpenID)
	x.num("CreateTime", cs.s.wall().Unix())
	x.str("MsgType", "event")
	event := "card_pass_check"
	if pass {
		c.Status, c.RefuseReason = cardVerifyOK, ""
	} else {
		event = "card_not_pass_check"
		c.Status, c.RefuseReason = cardVerifyNo, reason
	}
	c.DueAt = time.Time{}
	x.str("Event", event)
	x.str("CardId", c.ID)
	if !pass {
		x.str("RefuseReason", c.RefuseReason)
	}
	cs.touch("card", c.ID)
	comp := cs.s.byID[c.Component]
	if comp == nil {
		return pushJob{}, false
	}
	return pushJob{comp: comp, kind: kindMessage, appID: c.AppID, toUser: c.UserName, event: event, plain: x.bytes()}, true
}

// cardReview is the body of POST /sandbox/api/apps/{appid}/cards/{card_id}/review.
type cardReview struct {
	Verdict      string `json:"verdict"`       // "pass" or "reject"
	RefuseReason string `json:"refuse_reason"` // a rejection's reason; "" means the rules' default
}

// reviewCard decides a card under review now and pushes the verdict,
// waiting for the platform's answer. status is the HTTP status of an error.
func (s *Sandbox) reviewCard(r *http.Request, appid, cardID string, req cardReview) (pushResult, int, error) {
	if req.Verdict != "pass" && req.Verdict != "reject" {
		return pushResult{}, http.StatusBadRequest, errors.New(`verdict 须为 "pass" 或 "reject" / verdict must be "pass" or "reject"`)
	}
	cs := s.cards
	cs.mu.Lock()
	cs.decideAllLocked() // one due already has its verdict
	c := cs.cards[cardID]
	switch {
	case c == nil || c.AppID != appid:
		cs.mu.Unlock()
		return pushResult{}, http.StatusNotFound, fmt.Errorf("应用 %s 没有卡券 %s / app %s has no card %s", appid, cardID, appid, cardID)
	case c.Status != cardNotVerify:
		cs.mu.Unlock()
		return pushResult{}, http.StatusConflict, fmt.Errorf("卡券已审核（%s），不能再审 / the card was reviewed already (%s)", c.Status, c.Status)
	}
	job, ok := cs.verdictLocked(c, req.Verdict == "pass", refuseReason(req.RefuseReason, ""))
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		return pushResult{}, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed")
	}
	if !ok {
		return pushResult{OK: true}, 0, nil
	}
	return s.push(r.Context(), job), 0, nil
}

// POST /sandbox/api/apps/{appid}/cards/{card_id}/review {"verdict":"pass"|"reject","refuse_reason"?}
// → {"card_id","status","push"}: WeChat's reviewers decide the card now.
func (s *Sandbox) handleReviewCard(w http.ResponseWriter, r *http.Request) {
	var req cardReview
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	res, status, err := s.reviewCard(r, r.PathValue("appid"), r.PathValue("card_id"), req)
	if err != nil {
		writeControlError(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"card_id": r.PathValue("card_id"), "verdict": req.Verdict,
		"push": map[string]any{"ok": res.OK, "status": res.Status, "attempts": res.Attempts, "error": errString(res)}})
}
