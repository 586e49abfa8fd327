// Package cards is the platform's side of WeChat cards and coupons (卡券:
// 会员卡, 优惠券) and WeChat Wi-Fi (微信连Wi-Fi) for the official accounts it
// serves: card classes created through WeChat and kept with their review,
// the codes users receive and redeem (from the pushes, applied once), and a
// shop's Wi-Fi devices and connect QR code. docs/wechat-cards-wifi.md has
// the wire formats.
package cards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/wechat"
)

// Store is what the service keeps (package store implements it).
type Store interface {
	Authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error)
	PutCard(ctx context.Context, c *wxfleet.Card) error
	SetCardReview(ctx context.Context, componentAppID, appID, cardID string, approved bool, reason string, at time.Time) error
	RecordCardReceived(ctx context.Context, componentAppID, appID, cardID, code, openID string, at time.Time) (bool, error)
	RecordCardConsumed(ctx context.Context, componentAppID, appID, cardID, code, openID, source string, at time.Time) (bool, error)
	Cards(ctx context.Context, scope wxfleet.Scope, componentAppID, appID string) ([]*wxfleet.Card, error)
	Card(ctx context.Context, scope wxfleet.Scope, componentAppID, appID, cardID string) (*wxfleet.Card, error)
}

// Tokens hands out an authorizer's token source (token.Keeper).
type Tokens interface {
	AuthorizerSource(componentAppID, appID string) wechat.TokenSource
}

// Service creates and redeems cards and runs Wi-Fi devices.
type Service struct {
	Store  Store
	WeChat *wechat.Client
	Tokens Tokens
	// HTTPClient fetches the QR code image WeChat links to; nil means a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// usable checks that the platform serves appid and may call for it, and
// returns the account's tenant (0: none).
func (s *Service) usable(ctx context.Context, comp, appID string) (int64, error) {
	a, err := s.Store.Authorizer(ctx, comp, appID)
	if err != nil {
		return 0, err
	}
	return a.TenantID, a.Status.Unusable(appID)
}

// Create makes a card class on WeChat from WeChat's card object and keeps
// it, pending review. A merchant's card is its tenant's; staff may name
// one, else it is the official account's tenant.
func (s *Service) Create(ctx context.Context, scope wxfleet.Scope, comp, appID string, card json.RawMessage, tenantID int64) (*wxfleet.Card, error) {
	if !scope.All() {
		tenantID = scope.TenantID
	}
	var head map[string]json.RawMessage
	if len(card) == 0 || json.Unmarshal(card, &head) != nil || head == nil {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, `缺少 "card"：微信的卡券对象 / give "card": WeChat's card object {"card_type", "<type>": {"base_info": …}}`)
	}
	var typ string
	json.Unmarshal(head["card_type"], &typ)
	var inner struct {
		BaseInfo struct {
			Title string `json:"title"`
		} `json:"base_info"`
	}
	json.Unmarshal(head[strings.ToLower(typ)], &inner)
	accountTenant, err := s.usable(ctx, comp, appID)
	if err != nil {
		return nil, err
	}
	if tenantID == 0 {
		tenantID = accountTenant
	}
	if !scope.Allows(accountTenant) {
		return nil, wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个授权方 / no authorizer %s", appID)
	}
	id, err := s.WeChat.CreateCard(ctx, s.Tokens.AuthorizerSource(comp, appID), card)
	if err != nil {
		return nil, weChatErr(err)
	}
	c := &wxfleet.Card{ComponentAppID: comp, AppID: appID, CardID: id, TenantID: tenantID, CardType: typ,
		Title: inner.BaseInfo.Title, ReviewStatus: wxfleet.CardPending, CreatedAt: s.Now()}
	if err := s.Store.PutCard(ctx, c); err != nil {
		return nil, err
	}
	return s.Store.Card(ctx, wxfleet.Scope{}, comp, appID, id) // a review that raced the answer shows
}

// List returns an account's cards in scope with their counts.
func (s *Service) List(ctx context.Context, scope wxfleet.Scope, comp, appID string) ([]*wxfleet.Card, error) {
	return s.Store.Cards(ctx, scope, comp, appID)
}

// Get returns one card in scope.
func (s *Service) Get(ctx context.Context, scope wxfleet.Scope, comp, appID, cardID string) (*wxfleet.Card, error) {
	return s.Store.Card(ctx, scope, comp, appID, cardID)
}

// Consume redeems a user's code of a card (核销) and returns the user's
// openid. A code consumed before is ECONFLICT naming WeChat's 40099, an
// expired one naming its 40127. When
// WeChat's answer is lost the code is read back: consumed by now counts as
// this consume's success (the one way to tell, since a consume is never
// resent), anything else is the network error.
func (s *Service) Consume(ctx context.Context, scope wxfleet.Scope, comp, appID, cardID, code string) (string, error) {
	if code == "" {
		return "", wxfleet.Errorf(wxfleet.EINVALID, `缺少 "code" / give the user's card "code"`)
	}
	if _, err := s.Store.Card(ctx, scope, comp, appID, cardID); err != nil {
		return "", err
	}
	if _, err := s.usable(ctx, comp, appID); err != nil {
		return "", err
	}
	ts := s.Tokens.AuthorizerSource(comp, appID)
	openID, _, err := s.WeChat.ConsumeCardCode(ctx, ts, cardID, code)
	var we *wechat.Error
	if err != nil && !errors.As(err, &we) {
		// No answer: WeChat may have redeemed it. The consume is never
		// sent twice; the code's state tells.
		if cc, rerr := s.WeChat.CardCodeOf(ctx, ts, cardID, code, false); rerr == nil && cc.UserCardStatus == "CONSUMED" {
			s.Logger.InfoContext(ctx, "card consume answer lost; the code reads consumed", "appid", appID, "card_id", cardID)
			openID, err = cc.OpenID, nil
		}
	}
	if err != nil {
		return "", weChatErr(err)
	}
	if _, err := s.Store.RecordCardConsumed(ctx, comp, appID, cardID, code, openID, "FROM_API", s.Now()); err != nil {
		// WeChat redeemed it; its user_consume_card push records it too.
		s.Logger.WarnContext(ctx, "card consumed on WeChat but not recorded", "appid", appID, "card_id", cardID, "err", err)
	}
	return openID, nil
}

// weChatErr turns WeChat's refusal into the platform's coded error, with
// the errcode named so that an operator can look it up.
func weChatErr(err error) error {
	var we *wechat.Error
	if !errors.As(err, &we) {
		return err
	}
	switch we.Code {
	case wechat.CodeCardCodeConsumed:
		return wxfleet.WrapError(wxfleet.ECONFLICT, "该券码已核销（微信 errcode 40099）/ the code was already consumed (WeChat errcode 40099)", err)
	case wechat.CodeCardCodeUnavailable:
		return wxfleet.WrapError(wxfleet.ECONFLICT, "该券码已过期、已删除或不可用，不能核销（微信 errcode 40127）/ "+
			"the code has expired, was deleted or made unavailable: it cannot be consumed (WeChat errcode 40127)", err)
	case 48001, 61007:
		return wxfleet.WrapError(wxfleet.EFORBIDDEN, fmt.Sprintf("该帐号不能调用此接口：卡券与连WiFi属于公众号，且须授权对应权限集（微信 errcode %d）/ "+
			"this account may not call it: cards and Wi-Fi are official-account capabilities and need their permission set granted (WeChat errcode %d)", we.Code, we.Code), err)
	case wechat.CodeInvalidCardID, wechat.CodeInvalidCardCode:
		return wxfleet.WrapError(wxfleet.ENOTFOUND, fmt.Sprintf("微信没有这张卡券或券码（errcode %d）/ WeChat knows no such card or code (errcode %d)", we.Code, we.Code), err)
	}
	if we.Code == -1 || we.Code == 45009 {
		return wxfleet.WrapError(wxfleet.EUNAVAILABLE, fmt.Sprintf("微信暂时无法处理（errcode %d），请稍后再试 / WeChat cannot serve now (errcode %d): try again later", we.Code, we.Code), err)
	}
	return wxfleet.WrapError(wxfleet.EINVALID, fmt.Sprintf("微信拒绝了请求：errcode %d %s / WeChat refused the request: errcode %d %s (rid %s)",
		we.Code, we.Message, we.Code, we.Message, we.RID), err)
}

// Shops lists an account's Wi-Fi shops (one page, at most 20).
func (s *Service) Shops(ctx context.Context, comp, appID string, page, size int) (*wechat.WiFiShopPage, error) {
	if _, err := s.usable(ctx, comp, appID); err != nil {
		return nil, err
	}
	p, err := s.WeChat.WiFiShops(ctx, s.Tokens.AuthorizerSource(comp, appID), page, size)
	return p, weChatErr(err)
}

// AddDevice adds a password device to a shop and returns the shop's devices.
func (s *Service) AddDevice(ctx context.Context, comp, appID string, shopID int64, ssid, password string) ([]wechat.WiFiDevice, error) {
	if ssid == "" || password == "" {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, `缺少 "ssid" 或 "password" / give "ssid" (starting with WX) and "password"`)
	}
	if _, err := s.usable(ctx, comp, appID); err != nil {
		return nil, err
	}
	ts := s.Tokens.AuthorizerSource(comp, appID)
	if err := s.WeChat.AddWiFiDevice(ctx, ts, shopID, ssid, password); err != nil {
		return nil, weChatErr(err)
	}
	list, _, err := s.WeChat.WiFiDevices(ctx, ts, 1, 20, shopID)
	return list, weChatErr(err)
}

// QRCode is a shop's connect QR code.
type QRCode struct {
	URL   string // where WeChat serves it
	SSID  string
	Image []byte // the PNG, when fetched
	Type  string
}

// QRCodeOf returns a shop's connect QR code for ssid ("" means the shop's
// network); with fetch, the image too.
func (s *Service) QRCodeOf(ctx context.Context, comp, appID string, shopID int64, ssid string, imgID int, fetch bool) (*QRCode, error) {
	if _, err := s.usable(ctx, comp, appID); err != nil {
		return nil, err
	}
	ts := s.Tokens.AuthorizerSource(comp, appID)
	if ssid == "" {
		shop, err := s.WeChat.WiFiShopOf(ctx, ts, shopID)
		if err != nil {
			return nil, weChatErr(err)
		}
		if ssid = shop.SSID; ssid == "" {
			return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "门店 %d 还没有 Wi-Fi 设备：先添加设备 / shop %d has no Wi-Fi device yet: add one first", shopID, shopID)
		}
	}
	u, err := s.WeChat.WiFiQRCode(ctx, ts, shopID, ssid, imgID)
	if err != nil {
		return nil, weChatErr(err)
	}
	q := &QRCode{URL: u, SSID: ssid}
	if fetch {
		if q.Image, q.Type, err = s.fetchImage(ctx, u); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (s *Service) fetchImage(ctx context.Context, u string) ([]byte, string, error) {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return nil, "", wxfleet.Errorf(wxfleet.EUNAVAILABLE, "微信返回的二维码地址无效 / WeChat answered no usable QR code URL")
	}
	client := s.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", wxfleet.WrapError(wxfleet.EUNAVAILABLE, "微信返回的二维码地址无效 / WeChat answered no usable QR code URL", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", wxfleet.WrapError(wxfleet.EUNAVAILABLE, "读取二维码图片失败 / fetching the QR code image failed", err)
	}
	defer resp.Body.Close()
	img, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	ct := resp.Header.Get("Content-Type")
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "image/") {
		return nil, "", wxfleet.WrapError(wxfleet.EUNAVAILABLE, "读取二维码图片失败 / fetching the QR code image failed",
			fmt.Errorf("GET %s: HTTP %d %s: %v", u, resp.StatusCode, ct, err))
	}
	return img, ct, nil
}

// Feature wires the card pushes into the server.
type Feature struct {
	Service *Service
}

// RegisterPushes takes the card events of the official accounts' message
// URL. Each is applied idempotently (a code is its card's key; a review
// sets a state), so a retried push changes nothing.
func (f *Feature) RegisterPushes(m *push.Mux) {
	m.HandleEvent("card_pass_check", f.review)
	m.HandleEvent("card_not_pass_check", f.review)
	m.HandleEvent("user_get_card", f.received)
	m.HandleEvent("user_consume_card", f.consumed)
}

func at(p push.Push) time.Time {
	if !p.Event.CreateTime.IsZero() {
		return p.Event.CreateTime
	}
	return p.Event.ReceivedAt
}

// settle keeps WeChat from retrying a push the platform can never apply
// (its authorizer is unknown here): logged, acknowledged.
func (f *Feature) settle(ctx context.Context, p push.Push, err error) error {
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND || wxfleet.ErrorCode(err) == wxfleet.EINVALID {
		f.Service.Logger.WarnContext(ctx, "card push not applied", "event", p.Message.Get("Event"), "appid", p.Event.AppID, "err", err)
		return nil
	}
	return err
}

func (f *Feature) review(ctx context.Context, p push.Push) ([]byte, error) {
	m := p.Message
	err := f.Service.Store.SetCardReview(ctx, p.Event.ComponentAppID, p.Event.AppID, m.Get("CardId"),
		m.Get("Event") == "card_pass_check", m.Get("RefuseReason"), at(p))
	return nil, f.settle(ctx, p, err)
}

func (f *Feature) received(ctx context.Context, p push.Push) ([]byte, error) {
	m := p.Message
	_, err := f.Service.Store.RecordCardReceived(ctx, p.Event.ComponentAppID, p.Event.AppID, m.Get("CardId"),
		m.Get("UserCardCode"), m.Get("FromUserName"), at(p))
	return nil, f.settle(ctx, p, err)
}

func (f *Feature) consumed(ctx context.Context, p push.Push) ([]byte, error) {
	m := p.Message
	_, err := f.Service.Store.RecordCardConsumed(ctx, p.Event.ComponentAppID, p.Event.AppID, m.Get("CardId"),
		m.Get("UserCardCode"), m.Get("FromUserName"), m.Get("ConsumeSource"), at(p))
	return nil, f.settle(ctx, p, err)
}
