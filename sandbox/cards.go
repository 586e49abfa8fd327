package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Cards and coupons (卡券), a small part (docs/wechat-capabilities.md §6):
// card/create makes a card class that waits for WeChat's review; the review
// is decided through the control API and pushed (card_pass_check /
// card_not_pass_check); a user takes a card (user_get_card, with a fresh
// code); card/code/get reads a code; card/code/consume redeems it once
// (user_consume_card; again 40099). The cards live in the capability state
// of the app that made them.

// cardTypes are the card_type values card/create takes; the inner object's
// key is the lower-case type.
var cardTypes = []string{"MEMBER_CARD", "GENERAL_COUPON", "CASH", "DISCOUNT", "GROUPON", "GIFT"}

// Card statuses.
const (
	cardNotVerify  = "CARD_STATUS_NOT_VERIFY"
	cardVerifyOK   = "CARD_STATUS_VERIFY_OK"
	cardVerifyFail = "CARD_STATUS_VERIFY_FAIL"
)

// cardClass is a card or coupon class.
type cardClass struct {
	ID        string               `json:"card_id"`
	Type      string               `json:"card_type"`
	Title     string               `json:"title"`
	Brand     string               `json:"brand_name"`
	Status    string               `json:"status"`
	Quantity  int                  `json:"quantity"`
	Body      json.RawMessage      `json:"body"`
	CreatedAt time.Time            `json:"created_at"`
	Codes     map[string]*cardCode `json:"codes"`
}

// cardCode is one issued card: a user's code.
type cardCode struct {
	OpenID     string    `json:"openid"`
	Consumed   bool      `json:"consumed"`
	IssuedAt   time.Time `json:"issued_at"`
	ConsumedAt time.Time `json:"consumed_at,omitzero"`
}

// POST /card/create {"card":{"card_type":"GENERAL_COUPON","general_coupon":{"base_info":{...},...}}}
func (s *Sandbox) apiCardCreate(r *http.Request, body []byte) (any, int) {
	appid, code := s.subCaller(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		Card map[string]json.RawMessage `json:"card"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	var typ string
	if json.Unmarshal(req.Card["card_type"], &typ) != nil || !slices.Contains(cardTypes, typ) {
		return nil, 47001
	}
	var inner struct {
		Base *struct {
			LogoURL     string `json:"logo_url"`
			Brand       string `json:"brand_name"`
			CodeType    string `json:"code_type"`
			Title       string `json:"title"`
			Color       string `json:"color"`
			Notice      string `json:"notice"`
			Description string `json:"description"`
			SKU         *struct {
				Quantity int `json:"quantity"`
			} `json:"sku"`
			DateInfo *struct {
				Type string `json:"type"`
			} `json:"date_info"`
		} `json:"base_info"`
	}
	if json.Unmarshal(req.Card[strings.ToLower(typ)], &inner) != nil || inner.Base == nil {
		return nil, 47001
	}
	b := inner.Base
	if b.LogoURL == "" || b.Brand == "" || b.CodeType == "" || b.Title == "" || b.Color == "" || b.Notice == "" ||
		b.Description == "" || b.SKU == nil || b.DateInfo == nil || b.DateInfo.Type == "" {
		return nil, 47001
	}
	if utf8.RuneCountInString(b.Brand) > 12 || utf8.RuneCountInString(b.Title) > 9 || utf8.RuneCountInString(b.Notice) > 16 ||
		utf8.RuneCountInString(b.Description) > 1024 || b.SKU.Quantity < 0 || b.SKU.Quantity > 100_000_000 {
		return nil, 47001
	}
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	id := "p" + randomToken(21)[:27]
	a := cs.app(appid)
	if a.Cards == nil {
		a.Cards = map[string]*cardClass{}
	}
	a.Cards[id] = &cardClass{ID: id, Type: typ, Title: b.Title, Brand: b.Brand, Status: cardNotVerify, Quantity: b.SKU.Quantity,
		Body: json.RawMessage(slices.Clone(body)), CreatedAt: cs.now(), Codes: map[string]*cardCode{}}
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "card_id": id}, 0
}

// card returns a card of the app, 40073 when it has none with that id.
// Callers hold cs.mu.
func (cs *capState) card(appid, id string) (*cardClass, int) {
	a := cs.peek(appid)
	if a == nil || a.Cards[id] == nil {
		return nil, 40073
	}
	return a.Cards[id], 0
}

// POST /card/get {"card_id"}
func (s *Sandbox) apiCardGet(r *http.Request, body []byte) (any, int) {
	appid, code := s.subCaller(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		CardID string `json:"card_id"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, code := cs.card(appid, req.CardID)
	if code != 0 {
		return nil, code
	}
	base := map[string]any{"id": c.ID, "title": c.Title, "brand_name": c.Brand, "status": c.Status, "sku": map[string]int{"quantity": c.Quantity}}
	return map[string]any{"errcode": 0, "errmsg": "ok", "card": map[string]any{"card_type": c.Type,
		strings.ToLower(c.Type): map[string]any{"base_info": base}}}, 0
}

// codeOf finds an issued code of the app (in the named card, or any).
// Callers hold cs.mu.
func (cs *capState) codeOf(appid, cardID, code string) (*cardClass, *cardCode, int) {
	a := cs.peek(appid)
	if a == nil || code == "" {
		return nil, nil, 40056
	}
	for id, c := range a.Cards {
		if cardID != "" && id != cardID {
			continue
		}
		if cc := c.Codes[code]; cc != nil {
			return c, cc, 0
		}
	}
	return nil, nil, 40056
}

// POST /card/code/get {"code","card_id"?,"check_consume"?}
func (s *Sandbox) apiCardCodeGet(r *http.Request, body []byte) (any, int) {
	appid, code := s.subCaller(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		Code         string `json:"code"`
		CardID       string `json:"card_id"`
		CheckConsume *bool  `json:"check_consume"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	cs := s.caps
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, cc, code := cs.codeOf(appid, req.CardID, req.Code)
	if code != 0 {
		return nil, code
	}
	check := req.CheckConsume == nil || *req.CheckConsume
	if cc.Consumed && check {
		return nil, 40099
	}
	status := "NORMAL"
	if cc.Consumed {
		status = "CONSUMED"
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "card": map[string]any{"card_id": c.ID}, "openid": cc.OpenID,
		"can_consume": !cc.Consumed, "user_card_status": status}, 0
}

// POST /card/code/consume {"code","card_id"?}
func (s *Sandbox) apiCardConsume(r *http.Request, body []byte) (any, int) {
	appid, code := s.subCaller(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		Code   string `json:"code"`
		CardID string `json:"card_id"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	cs := s.caps
	cs.mu.Lock()
	c, cc, code := cs.codeOf(appid, req.CardID, req.Code)
	if code == 0 && cc.Consumed {
		code = 40099
	}
	if code != 0 {
		cs.mu.Unlock()
		return nil, code
	}
	cs.app(appid)
	cc.Consumed, cc.ConsumedAt = true, cs.now()
	openid := cc.OpenID
	code = cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		return nil, code
	}
	s.cardEvent(appid, openid, "user_consume_card", func(x *xmlDoc) {
		x.str("CardId", c.ID)
		x.str("UserCardCode", req.Code)
		x.str("ConsumeSource", "FROM_API")
		x.str("LocationName", "")
		x.str("StaffOpenId", "")
		x.str("VerifyCode", "")
		x.str("RemarkAmount", "")
		x.str("OuterStr", "")
	})
	return map[string]any{"errcode": 0, "errmsg": "ok", "card": map[string]any{"card_id": c.ID}, "openid": openid}, 0
}

// cardEvent pushes a card event to the app's message URL in the background,
// as WeChat pushes card events.
func (s *Sandbox) cardEvent(appid, openid, event string, fields func(x *xmlDoc)) {
	a := s.account(appid)
	c, err := s.authorizedComponent(appid, "")
	if a == nil || err != nil {
		return
	}
	from := openid
	if from == "" {
		from = "o" + strings.Repeat("0", 27) // the review events come from WeChat, not a user
	}
	var x xmlDoc
	x.str("ToUserName", a.UserName)
	x.str("FromUserName", from)
	x.num("CreateTime", s.wall().Unix())
	x.str("MsgType", "event")
	x.str("Event", event)
	fields(&x)
	s.pushAsync(pushJob{comp: c, kind: kindMessage, appID: appid, toUser: a.UserName, openID: openid, event: "event." + event, plain: x.bytes()})
}

// POST /sandbox/api/apps/{appid}/cards/{card_id}/review {"pass":bool,"reason"?}:
// WeChat's review of a card class decides; card_pass_check or
// card_not_pass_check (RefuseReason) is pushed.
func (s *Sandbox) handleCardReview(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Pass   bool   `json:"pass"`
		Reason string `json:"reason"`
	}
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	appid, id := r.PathValue("appid"), r.PathValue("card_id")
	cs := s.caps
	cs.mu.Lock()
	c, code := cs.card(appid, id)
	if code == 0 && c.Status != cardNotVerify {
		cs.mu.Unlock()
		writeControlError(w, http.StatusConflict, fmt.Errorf("card %s was reviewed already (%s)", id, c.Status))
		return
	}
	if code != 0 {
		cs.mu.Unlock()
		writeControlError(w, http.StatusNotFound, fmt.Errorf("app %s has no card %s", appid, id))
		return
	}
	cs.app(appid)
	c.Status = cardVerifyOK
	event := "card_pass_check"
	if !req.Pass {
		c.Status, event = cardVerifyFail, "card_not_pass_check"
		if req.Reason == "" {
			req.Reason = "卡券信息不符合规范"
		}
	}
	cs.flush()
	cs.mu.Unlock()
	s.cardEvent(appid, "", event, func(x *xmlDoc) {
		x.str("CardId", id)
		if !req.Pass {
			x.str("RefuseReason", req.Reason)
		}
	})
	writeJSON(w, http.StatusOK, map[string]string{"card_id": id, "status": c.Status})
}

// POST /sandbox/api/apps/{appid}/cards/{card_id}/take {"openid"?}: a user
// adds the card to their 卡包; a code is issued and user_get_card pushed.
func (s *Sandbox) handleCardTake(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID string `json:"openid"`
	}
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	appid, id := r.PathValue("appid"), r.PathValue("card_id")
	if req.OpenID == "" {
		s.mu.Lock()
		users := s.st.users(appid)
		if users.Default == "" {
			users.Default = newOpenID()
			s.touch(ref{kind: kUsers, a: appid})
		}
		req.OpenID = users.Default
		s.mu.Unlock()
	}
	cs := s.caps
	cs.mu.Lock()
	c, code := cs.card(appid, id)
	var err error
	switch {
	case code != 0:
		err = fmt.Errorf("app %s has no card %s", appid, id)
	case c.Status != cardVerifyOK:
		err = fmt.Errorf("card %s is %s: users take only approved cards", id, c.Status)
	case c.Quantity <= 0:
		err = errors.New("the card's stock (sku.quantity) is used up")
	}
	if err != nil {
		cs.mu.Unlock()
		writeControlError(w, http.StatusConflict, err)
		return
	}
	cs.app(appid)
	userCode := randomDigits(12)
	c.Codes[userCode] = &cardCode{OpenID: req.OpenID, IssuedAt: cs.now()}
	c.Quantity--
	cs.flush()
	cs.mu.Unlock()
	s.cardEvent(appid, req.OpenID, "user_get_card", func(x *xmlDoc) {
		x.str("CardId", id)
		x.num("IsGiveByFriend", 0)
		x.str("FriendUserName", "")
		x.str("UserCardCode", userCode)
		x.str("OldUserCardCode", "")
		x.str("OuterStr", "")
		x.num("IsRestoreMemberCard", 0)
		x.str("UnionId", "")
	})
	writeJSON(w, http.StatusOK, map[string]string{"card_id": id, "openid": req.OpenID, "code": userCode})
}
