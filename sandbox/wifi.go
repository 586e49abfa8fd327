package sandbox

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// WeChat Wi-Fi (微信连Wi-Fi), a legacy official-account capability: shops,
// password devices and the connect QR code (docs/wechat-cards-wifi.md).
// Answers carry their payload under "data". Shops are made with the control
// API (POST /sandbox/api/apps/{appid}/wifi/shops): on WeChat they come from
// the 门店 tools, which the sandbox does not emulate.

const protocolPassword = 4 // protocol_type of a password device (密码型设备)

// wifiPage reads pageindex and pagesize: 1 and 10 when absent; pagesize at most 20.
func wifiPage(index, size int) (int, int, int) {
	if index == 0 {
		index = 1
	}
	if size == 0 {
		size = 10
	}
	if index < 1 || size < 1 || size > 20 {
		return 0, 0, errInvalidArgs
	}
	return index, size, 0
}

func pageOf[T any](list []T, index, size int) (page []T, pages int) {
	pages = (len(list) + size - 1) / size
	from := min((index-1)*size, len(list))
	return list[from:min(from+size, len(list))], pages
}

// appShop finds one of the caller's shops: 40097 when unknown or another's. Callers hold cs.mu.
func (cs *cardState) appShop(appid string, id int64) (*wifiShop, int) {
	shop := cs.shops[id]
	if shop == nil || shop.AppID != appid {
		return nil, errInvalidArgs
	}
	return shop, 0
}

func wifiData(v any) any {
	return struct {
		wxError
		Data any `json:"data"`
	}{wxError{0, "ok"}, v}
}

// POST /bizwifi/shop/list {pageindex, pagesize} → data:{totalcount, pageindex, pagecount, records}
func (s *Sandbox) apiWiFiShopList(r *http.Request, body []byte) (any, int) {
	var req struct {
		PageIndex int `json:"pageindex"`
		PageSize  int `json:"pagesize"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcWiFi)
	if code != 0 {
		return nil, code
	}
	index, size, code := wifiPage(req.PageIndex, req.PageSize)
	if code != 0 {
		return nil, code
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var shops []*wifiShop
	for _, shop := range cs.shops {
		if shop.AppID == who.appid {
			shops = append(shops, shop)
		}
	}
	slices.SortFunc(shops, func(a, b *wifiShop) int { return int(a.ID - b.ID) })
	page, pages := pageOf(shops, index, size)
	records := []map[string]any{}
	for _, shop := range page {
		records = append(records, cs.shopRecord(shop))
	}
	return wifiData(map[string]any{"totalcount": len(shops), "pageindex": index, "pagecount": pages, "records": records}), 0
}

// shopRecord is a shop as shop/list and shop/get show it. Callers hold cs.mu.
func (cs *cardState) shopRecord(shop *wifiShop) map[string]any {
	ssids, passwords := []string{}, []string{}
	if shop.SSID != "" {
		ssids, passwords = []string{shop.SSID}, []string{shop.Password}
	}
	aps := 0
	for _, d := range cs.devices {
		if d.ShopID == shop.ID {
			aps++
		}
	}
	return map[string]any{"shop_id": shop.ID, "shop_name": shop.Name, "ssid": shop.SSID, "ssid_list": ssids,
		"ssid_password_list": passwords, "password": shop.Password, "protocol_type": shop.Protocol, "sid": shop.SID,
		"ap_count": aps}
}

// POST /bizwifi/shop/get {shop_id} → data:{shop_name, ssid, ssid_list, password, protocol_type, ap_count, …}
func (s *Sandbox) apiWiFiShopGet(r *http.Request, body []byte) (any, int) {
	var req struct {
		ShopID *int64 `json:"shop_id"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcWiFi)
	if code != 0 {
		return nil, code
	}
	if req.ShopID == nil {
		return nil, errMissingField
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	shop, code := cs.appShop(who.appid, *req.ShopID)
	if code != 0 {
		return nil, code
	}
	return wifiData(cs.shopRecord(shop)), 0
}

// POST /bizwifi/device/add {shop_id, ssid, password}: a password device. The
// ssid starts with "WX" and has at most 32 bytes, the password 8 to 24
// characters; a shop has one password network, so a second device must use
// the same ssid and password.
func (s *Sandbox) apiWiFiDeviceAdd(r *http.Request, body []byte) (any, int) {
	var req struct {
		ShopID   *int64 `json:"shop_id"`
		SSID     string `json:"ssid"`
		Password string `json:"password"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcWiFi)
	if code != 0 {
		return nil, code
	}
	if req.ShopID == nil || req.SSID == "" || req.Password == "" {
		return nil, errMissingField
	}
	if !strings.HasPrefix(req.SSID, "WX") || len(req.SSID) > 32 {
		return nil, errInvalidArgs
	}
	if n := utf8.RuneCountInString(req.Password); n < 8 || n > 24 {
		return nil, errInvalidArgs
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	shop, code := cs.appShop(who.appid, *req.ShopID)
	if code != 0 {
		return nil, code
	}
	if shop.SSID != "" && (shop.SSID != req.SSID || shop.Password != req.Password) {
		return nil, errInvalidArgs
	}
	shop.SSID, shop.Password, shop.Protocol = req.SSID, req.Password, protocolPassword
	d := &wifiDevice{ShopID: shop.ID, AppID: who.appid, SSID: req.SSID}
	for d.BSSID == "" || cs.devices[d.BSSID] != nil {
		d.BSSID = newBSSID()
	}
	cs.devices[d.BSSID] = d
	cs.touch("device", d.BSSID)
	cs.touch("shop", fmt.Sprint(shop.ID))
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// newBSSID returns a random locally administered MAC address, lower-case with colons.
func newBSSID() string {
	b := make([]byte, 6)
	rand.Read(b)
	mac := make([]string, 6)
	for i := range mac {
		v := b[i]
		if i == 0 {
			v = v&0xfc | 0x02
		}
		mac[i] = fmt.Sprintf("%02x", v)
	}
	return strings.Join(mac, ":")
}

// POST /bizwifi/device/list {pageindex, pagesize, shop_id?} → data:{totalcount, pageindex, pagecount, records}
func (s *Sandbox) apiWiFiDeviceList(r *http.Request, body []byte) (any, int) {
	var req struct {
		PageIndex int    `json:"pageindex"`
		PageSize  int    `json:"pagesize"`
		ShopID    *int64 `json:"shop_id"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcWiFi)
	if code != 0 {
		return nil, code
	}
	index, size, code := wifiPage(req.PageIndex, req.PageSize)
	if code != 0 {
		return nil, code
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if req.ShopID != nil {
		if _, code := cs.appShop(who.appid, *req.ShopID); code != 0 {
			return nil, code
		}
	}
	var devices []*wifiDevice
	for _, d := range cs.devices {
		if d.AppID == who.appid && (req.ShopID == nil || d.ShopID == *req.ShopID) {
			devices = append(devices, d)
		}
	}
	slices.SortFunc(devices, func(a, b *wifiDevice) int {
		if a.ShopID != b.ShopID {
			return int(a.ShopID - b.ShopID)
		}
		return compareStrings(a.BSSID, b.BSSID)
	})
	page, pages := pageOf(devices, index, size)
	records := []map[string]any{}
	for _, d := range page {
		records = append(records, map[string]any{"shop_id": d.ShopID, "ssid": d.SSID, "bssid": d.BSSID, "protocol_type": protocolPassword})
	}
	return wifiData(map[string]any{"totalcount": len(devices), "pageindex": index, "pagecount": pages, "records": records}), 0
}

// POST /bizwifi/device/delete {bssid}
func (s *Sandbox) apiWiFiDeviceDelete(r *http.Request, body []byte) (any, int) {
	var req struct {
		BSSID string `json:"bssid"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcWiFi)
	if code != 0 {
		return nil, code
	}
	if req.BSSID == "" {
		return nil, errMissingField
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	d := cs.devices[strings.ToLower(req.BSSID)]
	if d == nil || d.AppID != who.appid {
		return nil, errInvalidArgs
	}
	delete(cs.devices, d.BSSID)
	cs.touch("device", d.BSSID)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// POST /bizwifi/qrcode/get {shop_id, ssid, img_id} → data:{qrcode_url}: the
// URL serves a PNG (0: the plain QR code, 1: the printable sticker; the
// sandbox draws both alike). The ssid must be the shop's network.
func (s *Sandbox) apiWiFiQRCode(r *http.Request, body []byte) (any, int) {
	var req struct {
		ShopID *int64 `json:"shop_id"`
		SSID   string `json:"ssid"`
		ImgID  *int   `json:"img_id"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcWiFi)
	if code != 0 {
		return nil, code
	}
	if req.ShopID == nil || req.SSID == "" || req.ImgID == nil {
		return nil, errMissingField
	}
	if *req.ImgID != 0 && *req.ImgID != 1 {
		return nil, errInvalidArgs
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	shop, code := cs.appShop(who.appid, *req.ShopID)
	if code != 0 {
		return nil, code
	}
	if shop.SSID != req.SSID {
		return nil, errInvalidArgs
	}
	q := &wifiQR{ID: randomToken(18), ShopID: shop.ID, SSID: req.SSID, ImgID: *req.ImgID}
	cs.qrs[q.ID] = q
	cs.touch("qr", q.ID)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return wifiData(map[string]string{"qrcode_url": s.publicURL(r) + "/sandbox/static/bizwifi/" + q.ID + ".png"}), 0
}
