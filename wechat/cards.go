package wechat

import (
	"context"
	"encoding/json"
)

// Cards and coupons (卡券) and WeChat Wi-Fi (微信连Wi-Fi): official-account
// APIs called with the account's authorizer token. docs/wechat-cards-wifi.md
// has the wire formats.
const (
	pathCardCreate       = "/card/create"
	pathCardGet          = "/card/get"
	pathCardCodeGet      = "/card/code/get"
	pathCardCodeConsume  = "/card/code/consume"
	pathCardCodeDecrypt  = "/card/code/decrypt"
	pathWiFiShopList     = "/bizwifi/shop/list"
	pathWiFiShopGet      = "/bizwifi/shop/get"
	pathWiFiDeviceAdd    = "/bizwifi/device/add"
	pathWiFiDeviceList   = "/bizwifi/device/list"
	pathWiFiDeviceDelete = "/bizwifi/device/delete"
	pathWiFiQRCode       = "/bizwifi/qrcode/get"
)

// Card errcodes a caller acts on.
const (
	CodeCardCodeConsumed    = 40099 // /card/code/consume: the code was consumed before
	CodeCardCodeUnavailable = 40127 // the user's code was deleted, expired or made unavailable
	CodeInvalidCardCode     = 40056 // no such code
	CodeInvalidCardID       = 40073 // no such card (of this account)
)

// cardReads are the card and Wi-Fi calls that change nothing (qrcode/get
// hands out another URL to the same image), so they may be sent again after
// they may have reached WeChat. create, consume and device add/delete are not.
var cardReads = map[string]bool{
	pathCardGet: true, pathCardCodeGet: true, pathCardCodeDecrypt: true,
	pathWiFiShopList: true, pathWiFiShopGet: true, pathWiFiDeviceList: true, pathWiFiQRCode: true,
}

// Card review states of /card/get.
const (
	CardStatusNotVerify  = "CARD_STATUS_NOT_VERIFY"
	CardStatusVerifyOK   = "CARD_STATUS_VERIFY_OK"
	CardStatusVerifyFail = "CARD_STATUS_VERIFY_FAIL"
)

// CreateCard creates a card class (POST /card/create). card is WeChat's card
// object, {"card_type":…,"<type>":{"base_info":{…},…}}; WeChat checks it and
// answers the new card_id. The card is then reviewed (card_pass_check /
// card_not_pass_check pushes).
func (c *Client) CreateCard(ctx context.Context, ts TokenSource, card json.RawMessage) (string, error) {
	in := struct {
		Card json.RawMessage `json:"card"`
	}{card}
	var out struct {
		CardID string `json:"card_id"`
	}
	err := c.postJSON(ctx, ts, paramAccessToken, pathCardCreate, in, &out)
	return out.CardID, err
}

// CardInfo is a card as /card/get answers it.
type CardInfo struct {
	CardType string
	ID       string
	Status   string
	Title    string
	Raw      json.RawMessage // the whole card object
}

// Card reads a card class (POST /card/get).
func (c *Client) Card(ctx context.Context, ts TokenSource, cardID string) (*CardInfo, error) {
	in := map[string]string{"card_id": cardID}
	var out struct {
		Card json.RawMessage `json:"card"`
	}
	if err := c.postJSON(ctx, ts, paramAccessToken, pathCardGet, in, &out); err != nil {
		return nil, err
	}
	var card map[string]json.RawMessage
	json.Unmarshal(out.Card, &card)
	info := &CardInfo{Raw: out.Card}
	json.Unmarshal(card["card_type"], &info.CardType)
	for k, v := range card {
		if k == "card_type" {
			continue
		}
		var inner struct {
			BaseInfo struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Title  string `json:"title"`
			} `json:"base_info"`
		}
		if json.Unmarshal(v, &inner) == nil && inner.BaseInfo.ID != "" {
			info.ID, info.Status, info.Title = inner.BaseInfo.ID, inner.BaseInfo.Status, inner.BaseInfo.Title
		}
	}
	return info, nil
}

// CardCode is a user's card as /card/code/get answers it.
type CardCode struct {
	OpenID         string `json:"openid"`
	CanConsume     bool   `json:"can_consume"`
	UserCardStatus string `json:"user_card_status"` // NORMAL, CONSUMED, EXPIRE, …
	Card           struct {
		CardID    string `json:"card_id"`
		BeginTime int64  `json:"begin_time"`
		EndTime   int64  `json:"end_time"`
	} `json:"card"`
}

// CardCodeOf reads a code (POST /card/code/get); with checkConsume WeChat
// answers 40099 for a consumed code.
func (c *Client) CardCodeOf(ctx context.Context, ts TokenSource, cardID, code string, checkConsume bool) (*CardCode, error) {
	in := struct {
		Code         string `json:"code"`
		CardID       string `json:"card_id,omitempty"`
		CheckConsume bool   `json:"check_consume"`
	}{code, cardID, checkConsume}
	var out CardCode
	if err := c.postJSON(ctx, ts, paramAccessToken, pathCardCodeGet, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ConsumeCardCode redeems a code (核销, POST /card/code/consume) and returns
// the user's openid and the code's card. A code consumed before is a *Error
// with CodeCardCodeConsumed. Never sent twice: a lost answer is resolved by
// reading the code.
func (c *Client) ConsumeCardCode(ctx context.Context, ts TokenSource, cardID, code string) (openID, card string, err error) {
	in := struct {
		Code   string `json:"code"`
		CardID string `json:"card_id,omitempty"`
	}{code, cardID}
	var out struct {
		OpenID string `json:"openid"`
		Card   struct {
			CardID string `json:"card_id"`
		} `json:"card"`
	}
	err = c.postJSON(ctx, ts, paramAccessToken, pathCardCodeConsume, in, &out)
	return out.OpenID, out.Card.CardID, err
}

// DecryptCardCode turns the encrypt_code a card page hands out into the code
// (POST /card/code/decrypt).
func (c *Client) DecryptCardCode(ctx context.Context, ts TokenSource, encryptCode string) (string, error) {
	var out struct {
		Code string `json:"code"`
	}
	err := c.postJSON(ctx, ts, paramAccessToken, pathCardCodeDecrypt, map[string]string{"encrypt_code": encryptCode}, &out)
	return out.Code, err
}

// WiFiShop is a shop with WeChat Wi-Fi.
type WiFiShop struct {
	ShopID       int64    `json:"shop_id"`
	ShopName     string   `json:"shop_name"`
	SSID         string   `json:"ssid"`
	SSIDList     []string `json:"ssid_list"`
	ProtocolType int      `json:"protocol_type"`
	SID          string   `json:"sid"`
	APCount      int      `json:"ap_count,omitempty"`
}

// WiFiShopPage is one page of shop/list.
type WiFiShopPage struct {
	TotalCount int        `json:"totalcount"`
	PageIndex  int        `json:"pageindex"`
	PageCount  int        `json:"pagecount"`
	Records    []WiFiShop `json:"records"`
}

// WiFiShops lists the account's shops (POST /bizwifi/shop/list); pageSize at most 20.
func (c *Client) WiFiShops(ctx context.Context, ts TokenSource, pageIndex, pageSize int) (*WiFiShopPage, error) {
	var out struct {
		Data WiFiShopPage `json:"data"`
	}
	in := map[string]int{"pageindex": pageIndex, "pagesize": pageSize}
	if err := c.postJSON(ctx, ts, paramAccessToken, pathWiFiShopList, in, &out); err != nil {
		return nil, err
	}
	return &out.Data, nil
}

// WiFiShopOf reads one shop (POST /bizwifi/shop/get).
func (c *Client) WiFiShopOf(ctx context.Context, ts TokenSource, shopID int64) (*WiFiShop, error) {
	var out struct {
		Data WiFiShop `json:"data"`
	}
	if err := c.postJSON(ctx, ts, paramAccessToken, pathWiFiShopGet, map[string]int64{"shop_id": shopID}, &out); err != nil {
		return nil, err
	}
	out.Data.ShopID = shopID
	return &out.Data, nil
}

// AddWiFiDevice adds a password device to a shop (POST /bizwifi/device/add).
func (c *Client) AddWiFiDevice(ctx context.Context, ts TokenSource, shopID int64, ssid, password string) error {
	in := struct {
		ShopID   int64  `json:"shop_id"`
		SSID     string `json:"ssid"`
		Password string `json:"password"`
	}{shopID, ssid, password}
	return c.postJSON(ctx, ts, paramAccessToken, pathWiFiDeviceAdd, in, nil)
}

// WiFiDevice is one device of device/list.
type WiFiDevice struct {
	ShopID       int64  `json:"shop_id"`
	SSID         string `json:"ssid"`
	BSSID        string `json:"bssid"`
	ProtocolType int    `json:"protocol_type"`
}

// WiFiDevices lists devices (POST /bizwifi/device/list), of one shop when shopID > 0.
func (c *Client) WiFiDevices(ctx context.Context, ts TokenSource, pageIndex, pageSize int, shopID int64) ([]WiFiDevice, int, error) {
	in := map[string]int64{"pageindex": int64(pageIndex), "pagesize": int64(pageSize)}
	if shopID > 0 {
		in["shop_id"] = shopID
	}
	var out struct {
		Data struct {
			TotalCount int          `json:"totalcount"`
			Records    []WiFiDevice `json:"records"`
		} `json:"data"`
	}
	err := c.postJSON(ctx, ts, paramAccessToken, pathWiFiDeviceList, in, &out)
	return out.Data.Records, out.Data.TotalCount, err
}

// DeleteWiFiDevice removes a device by its bssid (POST /bizwifi/device/delete).
func (c *Client) DeleteWiFiDevice(ctx context.Context, ts TokenSource, bssid string) error {
	return c.postJSON(ctx, ts, paramAccessToken, pathWiFiDeviceDelete, map[string]string{"bssid": bssid}, nil)
}

// WiFiQRCode returns the URL of a shop's connect QR code (POST
// /bizwifi/qrcode/get); imgID 0 is the plain code, 1 the printable sticker.
func (c *Client) WiFiQRCode(ctx context.Context, ts TokenSource, shopID int64, ssid string, imgID int) (string, error) {
	in := struct {
		ShopID int64  `json:"shop_id"`
		SSID   string `json:"ssid"`
		ImgID  int    `json:"img_id"`
	}{shopID, ssid, imgID}
	var out struct {
		Data struct {
			QRCodeURL string `json:"qrcode_url"`
		} `json:"data"`
	}
	err := c.postJSON(ctx, ts, paramAccessToken, pathWiFiQRCode, in, &out)
	return out.Data.QRCodeURL, err
}
