package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Control API of cards and Wi-Fi: the review rules, a simulated user who
// receives a card, the cards of an app with their counts, and shops.

// GET /sandbox/api/card-rules
func (s *Sandbox) handleGetCardRules(w http.ResponseWriter, r *http.Request) {
	s.cards.mu.Lock()
	rules := s.cards.meta.Rules
	s.cards.mu.Unlock()
	writeJSON(w, http.StatusOK, rules)
}

// POST /sandbox/api/card-rules {"delay","verdict","reject_words","refuse_reason"}: each field given replaces that rule.
func (s *Sandbox) handleSetCardRules(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Delay        *string   `json:"delay"`
		Verdict      *string   `json:"verdict"`
		RejectWords  *[]string `json:"reject_words"`
		RefuseReason *string   `json:"refuse_reason"`
	}
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rules := cs.meta.Rules
	if req.Delay != nil {
		if d, err := time.ParseDuration(*req.Delay); err != nil || d < 0 {
			writeControlError(w, http.StatusBadRequest, errors.New(`delay 须为 Go 时长，如 "5s" / delay must be a Go duration such as "5s"`))
			return
		}
		rules.Delay = *req.Delay
	}
	if req.Verdict != nil {
		if *req.Verdict != "pass" && *req.Verdict != "reject" {
			writeControlError(w, http.StatusBadRequest, errors.New(`verdict 须为 "pass" 或 "reject" / verdict must be "pass" or "reject"`))
			return
		}
		rules.Verdict = *req.Verdict
	}
	if req.RejectWords != nil {
		rules.RejectWords = slices.DeleteFunc(slices.Clone(*req.RejectWords), func(w string) bool { return w == "" })
	}
	if req.RefuseReason != nil {
		rules.RefuseReason = *req.RefuseReason
	}
	cs.meta.Rules = rules
	cs.touch("meta", "meta")
	if cs.flush() != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	writeJSON(w, http.StatusOK, rules)
}

// cardView is a card as the control API shows it.
type cardView struct {
	CardID       string `json:"card_id"`
	CardType     string `json:"card_type"`
	Title        string `json:"title"`
	Status       string `json:"status"`
	RefuseReason string `json:"refuse_reason,omitempty"`
	Quantity     int64  `json:"quantity"`
	Issued       int    `json:"issued"`
	Consumed     int    `json:"consumed"`
}

// GET /sandbox/api/apps/{appid}/cards → {"cards":[…]} with issued and consumed counts.
func (s *Sandbox) handleAppCards(w http.ResponseWriter, r *http.Request) {
	appid := r.PathValue("appid")
	cs := s.cards
	cs.mu.Lock()
	cs.decideAllLocked()
	list := []cardView{}
	for _, c := range cs.cards {
		if c.AppID == appid {
			list = append(list, cardView{c.ID, c.Type, c.Title, c.Status, c.RefuseReason, c.Quantity, c.Issued, c.Consumed})
		}
	}
	cs.mu.Unlock()
	slices.SortFunc(list, func(a, b cardView) int { return compareStrings(a.CardID, b.CardID) })
	writeJSON(w, http.StatusOK, map[string]any{"cards": list})
}

// POST /sandbox/api/apps/{appid}/cards/{card_id}/receive {"openid"?, "outer_str"?}
// → {code, encrypt_code, openid, push}: a WeChat user adds the card to their
// 卡包; user_get_card is pushed before the answer.
func (s *Sandbox) handleReceiveCard(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID   string `json:"openid"`
		OuterStr string `json:"outer_str"`
	}
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	appid, cardID := r.PathValue("appid"), r.PathValue("card_id")
	if req.OpenID == "" {
		s.mu.Lock()
		u := s.st.users(appid)
		if u.Default == "" {
			u.Default = newOpenID()
			s.touch(ref{kind: kUsers, a: appid})
		}
		req.OpenID = u.Default
		s.mu.Unlock()
	}
	cs := s.cards
	cs.mu.Lock()
	cs.decideAllLocked()
	c := cs.cards[cardID]
	var err error
	status := http.StatusConflict
	switch {
	case c == nil || c.AppID != appid:
		status, err = http.StatusNotFound, fmt.Errorf("应用 %s 没有卡券 %s / app %s has no card %s", appid, cardID, appid, cardID)
	case c.Status != cardVerifyOK:
		err = fmt.Errorf("卡券未通过审核（%s），用户无法领取 / the card is %s: users can receive only approved cards", c.Status, c.Status)
	case int64(c.Issued) >= c.Quantity:
		err = errors.New("卡券库存已领完 / the card is out of stock (sku quantity)")
	}
	if err != nil {
		cs.mu.Unlock()
		writeControlError(w, status, err)
		return
	}
	cc := &sbCode{CardID: c.ID, OpenID: req.OpenID, EncryptCode: randomToken(24), ReceivedAt: s.now()}
	for cc.Code == "" || cs.codes[cc.Code] != nil {
		cc.Code = randomDigits(12)
	}
	cs.codes[cc.Code] = cc
	cs.encrypt[cc.EncryptCode] = cc.Code
	c.Issued++
	cs.touch("code", cc.Code)
	cs.touch("card", c.ID)
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	s.waitDurable(r.Context()) // the user book, when a default openid was made

	var x xmlDoc
	x.str("ToUserName", c.UserName)
	x.str("FromUserName", req.OpenID)
	x.num("CreateTime", s.wall().Unix())
	x.str("MsgType", "event")
	x.str("Event", "user_get_card")
	x.str("CardId", c.ID)
	x.num("IsGiveByFriend", 0)
	x.str("FriendUserName", "")
	x.str("UserCardCode", cc.Code)
	x.str("OldUserCardCode", "")
	x.str("OuterStr", req.OuterStr)
	x.num("IsRestoreMemberCard", 0)
	x.str("UnionId", "")
	x.num("OuterId", 0)
	out := map[string]any{"code": cc.Code, "encrypt_code": cc.EncryptCode, "openid": req.OpenID, "card_id": c.ID}
	if comp := s.byID[c.Component]; comp != nil {
		res := s.push(r.Context(), pushJob{comp: comp, kind: kindMessage, appID: appid, toUser: c.UserName, openID: req.OpenID,
			event: "user_get_card", plain: x.bytes()})
		out["push"] = map[string]any{"ok": res.OK, "status": res.Status, "attempts": res.Attempts}
	}
	writeJSON(w, http.StatusOK, out)
}

// POST /sandbox/api/apps/{appid}/wifi/shops {"shop_name"} → the shop: a
// 门店 of an official account, ready for Wi-Fi devices.
func (s *Sandbox) handleAddShop(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ShopName string `json:"shop_name"`
	}
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	appid := r.PathValue("appid")
	a := s.account(appid)
	switch {
	case a == nil:
		writeControlError(w, http.StatusNotFound, fmt.Errorf("没有应用 %s / unknown appid %q", appid, appid))
		return
	case a.MiniProgram:
		writeControlError(w, http.StatusBadRequest, errors.New("门店与微信连Wi-Fi属于公众号 / shops and Wi-Fi belong to official accounts, not mini programs"))
		return
	case req.ShopName == "":
		writeControlError(w, http.StatusBadRequest, errors.New(`缺少 "shop_name" / give "shop_name"`))
		return
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.meta.NextShop++
	shop := &wifiShop{ID: cs.meta.NextShop, AppID: appid, Name: req.ShopName, SID: "", Protocol: 0}
	cs.shops[shop.ID] = shop
	cs.touch("shop", fmt.Sprint(shop.ID))
	cs.touch("meta", "meta")
	if cs.flush() != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	writeJSON(w, http.StatusOK, shop)
}

// GET /sandbox/static/bizwifi/{id}.png: a connect QR code /bizwifi/qrcode/get handed out.
func (s *Sandbox) handleWiFiQR(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	id, ok := cutSuffix(file, ".png")
	s.cards.mu.Lock()
	q := s.cards.qrs[id]
	s.cards.mu.Unlock()
	if !ok || q == nil {
		http.NotFound(w, r)
		return
	}
	img, err := qrPNG("bizwifi\x00" + fmt.Sprint(q.ShopID) + "\x00" + q.SSID + "\x00" + fmt.Sprint(q.ImgID))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(img)
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) <= len(suffix) || s[len(s)-len(suffix):] != suffix {
		return "", false
	}
	return s[:len(s)-len(suffix)], true
}
