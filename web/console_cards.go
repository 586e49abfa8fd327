package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wechat"
)

// The console's cards and coupons (卡券) and Wi-Fi (连Wi-Fi) of an official
// account (package cards; docs/wechat-cards-wifi.md): the cards with their
// review state and issued / redeemed counts, a coupon made from a short
// form (the form becomes WeChat's card object), the Wi-Fi shops with their
// connect QR codes, and a device added to a shop. A merchant sees its own
// tenant's apps' cards, makes coupons and reads its Wi-Fi shops and QR codes
// (appOf bounds every page by the caller's scope); redeeming a code and
// adding a device stay the ISV staff's.

func (s *Server) cardPages(mux *http.ServeMux) {
	if s.Cards == nil {
		return
	}
	s.page(mux, "GET /authorizers/{appid}/cards", TenantRead(), s.cardsPage)
	s.page(mux, "POST /authorizers/{appid}/cards", TenantWrite("card.create"), s.createCouponForm)
	s.page(mux, "POST /authorizers/{appid}/cards/{card_id}/consume", TenantWrite("card.consume"), s.consumeCardForm)
	s.page(mux, "GET /authorizers/{appid}/wifi", TenantRead(), s.wifiPage)
	s.page(mux, "GET /authorizers/{appid}/wifi/{shop_id}/qrcode", TenantRead(), s.wifiQRCodeImage)
	s.page(mux, "POST /authorizers/{appid}/wifi/{shop_id}/devices", TenantWrite("wifi.device.add"), s.addWiFiDeviceForm)
}

// couponForm is the create-coupon form.
type couponForm struct {
	CardType, Title, BrandName, LogoURL, Color, Notice, Description, Quantity, FixedTerm string
	DefaultDetail, LeastCost, ReduceCost, Discount                                       string
	// A member card's (会员卡): its privileges, whether it shows points and
	// holds a balance, and whether receiving it activates it.
	Prerogative                              string
	SupplyBonus, SupplyBalance, AutoActivate bool
}

func readCouponForm(r *http.Request) couponForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return couponForm{CardType: v("card_type"), Title: v("title"), BrandName: v("brand_name"), LogoURL: v("logo_url"),
		Color: v("color"), Notice: v("notice"), Description: v("description"), Quantity: v("quantity"), FixedTerm: v("fixed_term"),
		DefaultDetail: v("default_detail"), LeastCost: v("least_cost"), ReduceCost: v("reduce_cost"), Discount: v("discount"),
		Prerogative: v("prerogative"), SupplyBonus: v("supply_bonus") != "", SupplyBalance: v("supply_balance") != "",
		AutoActivate: v("auto_activate") != ""}
}

// couponTypes are the card kinds the form makes: three coupons and the
// member card (会员卡).
var couponTypes = []string{"GENERAL_COUPON", "CASH", "DISCOUNT", "MEMBER_CARD"}

// card turns the form into WeChat's card object; a number that is not one
// is an error naming its field. WeChat checks the rest (lengths, colours).
func (f couponForm) card() (json.RawMessage, error) {
	num := func(name, v string, def int64) (int64, error) {
		if v == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, wxfleet.Errorf(wxfleet.EINVALID, "%s 须是非负整数 / %s must be a whole number, 0 or more", name, name)
		}
		return n, nil
	}
	qty, err := num("quantity", f.Quantity, 0)
	if err != nil {
		return nil, err
	}
	term, err := num("fixed_term", f.FixedTerm, 30)
	if err != nil {
		return nil, err
	}
	color := f.Color
	if color == "" {
		color = "Color010"
	}
	base := map[string]any{"logo_url": f.LogoURL, "brand_name": f.BrandName, "code_type": "CODE_TYPE_QRCODE", "title": f.Title,
		"color": color, "notice": f.Notice, "description": f.Description, "sku": map[string]any{"quantity": qty},
		"date_info": map[string]any{"type": "DATE_TYPE_FIX_TERM", "fixed_term": term}}
	inner := map[string]any{"base_info": base}
	switch f.CardType {
	case "GENERAL_COUPON":
		inner["default_detail"] = f.DefaultDetail
	case "CASH":
		least, err := num("least_cost", f.LeastCost, 0)
		if err != nil {
			return nil, err
		}
		reduce, err := num("reduce_cost", f.ReduceCost, 0)
		if err != nil {
			return nil, err
		}
		inner["least_cost"], inner["reduce_cost"] = least, reduce
	case "DISCOUNT":
		d, err := num("discount", f.Discount, 0)
		if err != nil {
			return nil, err
		}
		inner["discount"] = d
	case "MEMBER_CARD":
		// A member card lasts (DATE_TYPE_PERMANENT) unless a term is given;
		// prerogative, supply_bonus and supply_balance are its required
		// fields (docs/wechat-cards-wifi.md).
		if f.FixedTerm == "" {
			base["date_info"] = map[string]any{"type": "DATE_TYPE_PERMANENT"}
		}
		inner["prerogative"], inner["supply_bonus"], inner["supply_balance"] = f.Prerogative, f.SupplyBonus, f.SupplyBalance
		if f.AutoActivate {
			inner["auto_activate"] = true
		}
	default:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "券类型须是 %s / card_type must be one of %s", strings.Join(couponTypes, "、"), strings.Join(couponTypes, ", "))
	}
	b, err := json.Marshal(map[string]any{"card_type": f.CardType, strings.ToLower(f.CardType): inner})
	return b, err
}

func (s *Server) cardsPage(w http.ResponseWriter, r *http.Request) {
	s.renderCards(w, r, http.StatusOK, defaultCoupon, "", r.URL.Query().Get("made"))
}

var defaultCoupon = couponForm{CardType: "GENERAL_COUPON", Quantity: "100", FixedTerm: "30"}

func (s *Server) renderCards(w http.ResponseWriter, r *http.Request, status int, f couponForm, errMsg, made string) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	list, err := s.Cards.List(r.Context(), scopeOf(r), comp, a.AppID)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appHome(r, comp, a.AppID))
		return
	}
	items := make([]cardJSON, len(list))
	for i, c := range list {
		items[i] = toCardJSON(c)
	}
	s.render(w, r, status, "cards", map[string]any{"Title": a.Nickname + " · 卡券 Cards and coupons", "Platform": comp, "Path": appBack(comp, a.AppID, "/cards"),
		"A": toAuthorizerJSON(a, s.Now(), false), "Items": items, "F": f, "Types": couponTypes, "Err": errMsg, "Made": made,
		"Consumed": r.URL.Query().Get("consumed")})
}

// createCouponForm makes a coupon class on WeChat; it waits for WeChat's review.
func (s *Server) createCouponForm(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	f := readCouponForm(r)
	card, err := f.card()
	var c *wxfleet.Card
	if err == nil {
		c, err = s.Cards.Create(r.Context(), scopeOf(r), comp, a.AppID, card, 0)
	}
	if err != nil {
		auditSkip(r)
		s.renderCards(w, r, statusOfErr(err), f, wxfleet.ErrorMessage(err), "")
		return
	}
	auditTarget(r, comp, a.AppID, c.CardID)
	auditTenant(r, c.TenantID)
	auditDetail(r, map[string]any{"card_type": c.CardType, "title": c.Title})
	http.Redirect(w, r, appBack(comp, a.AppID, "/cards")+"&made="+c.CardID, http.StatusSeeOther)
}

// consumeCardForm redeems (核销) a user's code of a card.
func (s *Server) consumeCardForm(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	cardID, code := r.PathValue("card_id"), strings.TrimSpace(r.PostFormValue("code"))
	openID, err := s.Cards.Consume(r.Context(), scopeOf(r), comp, a.AppID, cardID, code)
	if err != nil {
		auditSkip(r)
		s.renderCards(w, r, statusOfErr(err), defaultCoupon, wxfleet.ErrorMessage(err), "")
		return
	}
	auditTarget(r, comp, a.AppID, cardID)
	auditDetail(r, map[string]any{"code": code})
	http.Redirect(w, r, appBack(comp, a.AppID, "/cards")+"&consumed="+url.QueryEscape(openID), http.StatusSeeOther)
}

// wifiPage lists the account's Wi-Fi shops (a WeChat call), each with its
// QR code and the add-device form; the refusal is shown when WeChat refused.
func (s *Server) wifiPage(w http.ResponseWriter, r *http.Request) {
	s.renderWiFi(w, r, http.StatusOK, "", nil)
}

func (s *Server) renderWiFi(w http.ResponseWriter, r *http.Request, status int, errMsg string, devices []wechat.WiFiDevice) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	data := map[string]any{"Title": a.Nickname + " · 连Wi-Fi Wi-Fi", "Platform": comp, "Path": appBack(comp, a.AppID, "/wifi"), "A": toAuthorizerJSON(a, s.Now(), false),
		"Err": errMsg, "Devices": devices, "NextPage": page + 1}
	shops, err := s.Cards.Shops(r.Context(), comp, a.AppID, page, 20)
	if err != nil {
		data["ShopsErr"] = wechatErrText(err)
	} else {
		data["Shops"] = shops
	}
	s.render(w, r, status, "wifi", data)
}

// wifiQRCodeImage is a shop's connect QR code, fetched from WeChat.
func (s *Server) wifiQRCodeImage(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	id, err := shopID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appBack(comp, a.AppID, "/wifi"))
		return
	}
	q, err := s.Cards.QRCodeOf(r.Context(), comp, a.AppID, id, r.URL.Query().Get("ssid"), 0, true)
	if err != nil {
		s.errorPage(w, r, "无法获取二维码 Cannot get the QR code", err, appBack(comp, a.AppID, "/wifi"))
		return
	}
	w.Header().Set("Content-Type", q.Type)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(q.Image)
}

// addWiFiDeviceForm adds a password device to a shop.
func (s *Server) addWiFiDeviceForm(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	id, err := shopID(r)
	var list []wechat.WiFiDevice
	if err == nil {
		list, err = s.Cards.AddDevice(r.Context(), comp, a.AppID, id, strings.TrimSpace(r.PostFormValue("ssid")), r.PostFormValue("password"))
	}
	if err != nil {
		auditSkip(r)
		s.renderWiFi(w, r, statusOfErr(err), wxfleet.ErrorMessage(err), nil)
		return
	}
	auditTarget(r, comp, a.AppID, strconv.FormatInt(id, 10))
	auditDetail(r, map[string]any{"ssid": strings.TrimSpace(r.PostFormValue("ssid"))})
	s.renderWiFi(w, r, http.StatusCreated, "", list)
}
