package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Cards and coupons (卡券) and Wi-Fi (微信连Wi-Fi) of an official account
// (package cards; docs/wechat-cards-wifi.md).
// Cards carry their tenant (the official account's unless named) and every
// read is bounded by the caller's Scope. A merchant lists its own apps'
// cards, makes a coupon, and reads its Wi-Fi shops and their QR codes (its
// tenant's apps only: scopedApp, appscope.go); redeeming a code and adding a
// Wi-Fi device stay the ISV staff's.
func (s *Server) cardRoutes(mux *http.ServeMux) {
	if s.Cards == nil {
		return
	}
	s.api(mux, "POST /api/v1/authorizers/{appid}/cards", TenantWrite("card.create"), s.createCard)
	s.api(mux, "GET /api/v1/authorizers/{appid}/cards", TenantRead(), s.listCards)
	s.api(mux, "GET /api/v1/authorizers/{appid}/cards/{card_id}", TenantRead(), s.getCard)
	s.api(mux, "POST /api/v1/authorizers/{appid}/cards/{card_id}/consume", TenantWrite("card.consume"), s.consumeCard)
	s.api(mux, "GET /api/v1/authorizers/{appid}/wifi/shops", TenantRead(), s.listWiFiShops)
	s.api(mux, "POST /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/devices", TenantWrite("wifi.device.add"), s.addWiFiDevice)
	s.api(mux, "GET /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/qrcode", TenantRead(), s.wifiQRCode)
}

type cardJSON struct {
	CardID       string     `json:"card_id"`
	AppID        string     `json:"appid"`
	TenantID     *int64     `json:"tenant_id"`
	CardType     string     `json:"card_type"`
	Title        string     `json:"title"`
	ReviewStatus string     `json:"review_status"`
	RefuseReason string     `json:"refuse_reason,omitempty"`
	ReviewedAt   *time.Time `json:"reviewed_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	Issued       int        `json:"issued"`
	Redeemed     int        `json:"redeemed"`
}

func toCardJSON(c *wxfleet.Card) cardJSON {
	j := cardJSON{CardID: c.CardID, AppID: c.AppID, CardType: c.CardType, Title: c.Title, ReviewStatus: c.ReviewStatus,
		RefuseReason: c.RefuseReason, ReviewedAt: timePtr(c.ReviewedAt), CreatedAt: c.CreatedAt, Issued: c.Issued, Redeemed: c.Redeemed}
	if c.TenantID != 0 {
		j.TenantID = &c.TenantID
	}
	return j
}

// POST /api/v1/authorizers/{appid}/cards {"card": WeChat's card object, "tenant_id"?}
func (s *Server) createCard(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	var req struct {
		Card     json.RawMessage `json:"card"`
		TenantID int64           `json:"tenant_id"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	c, err := s.Cards.Create(r.Context(), scopeOf(r), comp, appID, req.Card, req.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toCardJSON(c))
	return nil
}

// GET /api/v1/authorizers/{appid}/cards → {"items":[card with issued/redeemed]}
func (s *Server) listCards(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	list, err := s.Cards.List(r.Context(), scopeOf(r), comp, appID)
	if err != nil {
		return err
	}
	items := make([]cardJSON, len(list))
	for i, c := range list {
		items[i] = toCardJSON(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *Server) getCard(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	c, err := s.Cards.Get(r.Context(), scopeOf(r), comp, appID, r.PathValue("card_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCardJSON(c))
	return nil
}

// POST /api/v1/authorizers/{appid}/cards/{card_id}/consume {"code"} → {"openid","card"}
func (s *Server) consumeCard(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	cardID := r.PathValue("card_id")
	openID, err := s.Cards.Consume(r.Context(), scopeOf(r), comp, appID, cardID, req.Code)
	if err != nil {
		return err
	}
	c, err := s.Cards.Get(r.Context(), scopeOf(r), comp, appID, cardID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"openid": openID, "code": req.Code, "card": toCardJSON(c)})
	return nil
}

func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "%s 须为整数 / %s must be an integer", name, name)
	}
	return n, nil
}

func shopID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("shop_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "shop_id 须为正整数 / shop_id must be a positive integer")
	}
	return id, nil
}

// GET /api/v1/authorizers/{appid}/wifi/shops?page=&size= → WeChat's page of shops
func (s *Server) listWiFiShops(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	page, err := intParam(r, "page", 1)
	if err != nil {
		return err
	}
	size, err := intParam(r, "size", 20)
	if err != nil {
		return err
	}
	p, err := s.Cards.Shops(r.Context(), comp, appID, page, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": p.TotalCount, "page": p.PageIndex, "pages": p.PageCount, "items": nonNil(p.Records)})
	return nil
}

// POST /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/devices {"ssid","password"} → {"items": the shop's devices}
func (s *Server) addWiFiDevice(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	id, err := shopID(r)
	if err != nil {
		return err
	}
	var req struct {
		SSID     string `json:"ssid"`
		Password string `json:"password"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	list, err := s.Cards.AddDevice(r.Context(), comp, appID, id, req.SSID, req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"items": nonNil(list)})
	return nil
}

// GET /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/qrcode?ssid=&img_id=&format=json
// → the PNG (format=json: {"qrcode_url","ssid"}).
func (s *Server) wifiQRCode(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	id, err := shopID(r)
	if err != nil {
		return err
	}
	imgID, err := intParam(r, "img_id", 0)
	if err != nil {
		return err
	}
	asJSON := r.URL.Query().Get("format") == "json"
	q, err := s.Cards.QRCodeOf(r.Context(), comp, appID, id, r.URL.Query().Get("ssid"), imgID, !asJSON)
	if err != nil {
		return err
	}
	if asJSON {
		writeJSON(w, http.StatusOK, map[string]string{"qrcode_url": q.URL, "ssid": q.SSID})
		return nil
	}
	w.Header().Set("Content-Type", q.Type)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(q.Image)
	return nil
}
