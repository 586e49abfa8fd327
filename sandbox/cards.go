package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Cards and coupons (卡券) and WeChat Wi-Fi (微信连Wi-Fi): official-account
// capabilities (docs/wechat-cards-wifi.md). They keep their own state, apart
// from the core state, like code management: in memory under cardState.mu
// (never held together with Sandbox.mu), each change written to
// {DataDir}/sandbox-cards.db before the API answers.
//
// Who may call them: an authorizer_access_token of an official account that
// granted the platform 微信卡券权限 (permission set 8) for cards, or 微信连WiFi
// 权限 (10) for Wi-Fi. A mini program's token gets 48001 (WeChat offers these
// APIs to official accounts only); an official account that did not grant
// the set gets 61007. This is the sandbox's model of "cards belong to an
// official account"; WeChat's own rule for a mini program linked to an
// official account is not modelled.

const cardsDBFile = "sandbox-cards.db"

// Permission sets (权限集) of official accounts for these capabilities.
const (
	funcCards = 8  // 微信卡券权限
	funcWiFi  = 10 // 微信连WiFi权限
)

// Card statuses of /card/get.
const (
	cardNotVerify = "CARD_STATUS_NOT_VERIFY"
	cardVerifyOK  = "CARD_STATUS_VERIFY_OK"
	cardVerifyNo  = "CARD_STATUS_VERIFY_FAIL"
)

// cardTypes are the card_type values /card/create takes; the inner object's
// key is the lower-case type.
var cardTypes = []string{"MEMBER_CARD", "GENERAL_COUPON", "CASH", "DISCOUNT", "GROUPON", "GIFT"}

// sbCard is one card class (卡券) an official account created.
type sbCard struct {
	ID           string          `json:"card_id"`
	AppID        string          `json:"appid"`
	Component    string          `json:"component_appid"`
	UserName     string          `json:"user_name"` // gh_ id: ToUserName of its pushes
	Type         string          `json:"card_type"`
	Inner        json.RawMessage `json:"inner"` // the inner object as created
	Title        string          `json:"title"`
	Quantity     int64           `json:"quantity"`
	Status       string          `json:"status"`
	RefuseReason string          `json:"refuse_reason,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	DueAt        time.Time       `json:"due_at,omitzero"` // review decided at; zero once decided
	Issued       int             `json:"issued"`
	Consumed     int             `json:"consumed"`
	BeginAt      time.Time       `json:"begin_at,omitzero"` // DATE_TYPE_FIX_TIME_RANGE
	EndAt        time.Time       `json:"end_at,omitzero"`
	FixedTerm    int             `json:"fixed_term,omitempty"` // days, DATE_TYPE_FIX_TERM
}

// sbCode is one card a user holds (a code of a card class).
type sbCode struct {
	Code        string    `json:"code"`
	CardID      string    `json:"card_id"`
	OpenID      string    `json:"openid"`
	EncryptCode string    `json:"encrypt_code"`
	ReceivedAt  time.Time `json:"received_at"`
	ConsumedAt  time.Time `json:"consumed_at,omitzero"`
}

// wifiShop is a shop (门店) with WeChat Wi-Fi.
type wifiShop struct {
	ID        int64  `json:"shop_id"`
	AppID     string `json:"appid"`
	Name      string `json:"shop_name"`
	SID       string `json:"sid"`
	SSID      string `json:"ssid"`     // the password network, once a device was added
	Password  string `json:"password"` // its password
	Protocol  int    `json:"protocol_type"`
	Component string `json:"component_appid,omitempty"`
}

// wifiDevice is one password device (密码型设备) of a shop.
type wifiDevice struct {
	BSSID  string `json:"bssid"`
	ShopID int64  `json:"shop_id"`
	AppID  string `json:"appid"`
	SSID   string `json:"ssid"`
}

// wifiQR is a connect QR code handed out by /bizwifi/qrcode/get.
type wifiQR struct {
	ID     string `json:"id"`
	ShopID int64  `json:"shop_id"`
	SSID   string `json:"ssid"`
	ImgID  int    `json:"img_id"`
}

// cardRules decide card reviews; a user sets them with POST /sandbox/api/card-rules.
type cardRules struct {
	Delay        string   `json:"delay"`         // Go duration from creation to the review result
	Verdict      string   `json:"verdict"`       // "pass" or "reject": the verdict when no reject word matches
	RejectWords  []string `json:"reject_words"`  // a card whose title, notice or description holds one is rejected
	RefuseReason string   `json:"refuse_reason"` // the RefuseReason of a rejection; "" means a default
}

func (r cardRules) delay() time.Duration {
	d, _ := time.ParseDuration(r.Delay)
	return d
}

// cardMeta is the scalar part of the card state.
type cardMeta struct {
	Rules    cardRules `json:"rules"`
	NextShop int64     `json:"next_shop"`
}

// cardState is the cards and Wi-Fi state and its database.
type cardState struct {
	s  *Sandbox
	db *sql.DB

	mu      sync.Mutex // guards everything below; never held with Sandbox.mu
	meta    cardMeta
	cards   map[string]*sbCard
	codes   map[string]*sbCode // by code
	encrypt map[string]string  // encrypt_code → code
	shops   map[int64]*wifiShop
	devices map[string]*wifiDevice // by bssid
	qrs     map[string]*wifiQR
	dirty   map[codeKey]bool
}

func (s *Sandbox) startCards() error {
	path := filepath.Join(s.cfg.DataDir, cardsDBFile)
	db, err := sql.Open("sqlite", "file:"+path+"?"+codeDBParams)
	if err != nil {
		return fmt.Errorf("sandbox: opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	cs := &cardState{s: s, db: db, cards: map[string]*sbCard{}, codes: map[string]*sbCode{}, encrypt: map[string]string{},
		shops: map[int64]*wifiShop{}, devices: map[string]*wifiDevice{}, qrs: map[string]*wifiQR{}, dirty: map[codeKey]bool{}}
	cs.meta = cardMeta{Rules: cardRules{Delay: "5s", Verdict: "pass", RejectWords: []string{}}, NextShop: 429620}
	if err := cs.load(); err != nil {
		db.Close()
		return fmt.Errorf("sandbox: %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return err
	}
	s.cards = cs
	s.goBackground(cs.simulate)
	return nil
}

func (s *Sandbox) closeCards() error {
	if s.cards == nil {
		return nil
	}
	return s.cards.db.Close()
}

func (cs *cardState) load() error {
	if _, err := cs.db.Exec(`CREATE TABLE IF NOT EXISTS card_state (kind TEXT NOT NULL, id TEXT NOT NULL,
		data TEXT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID`); err != nil {
		return err
	}
	rows, err := cs.db.Query(`SELECT kind, id, data FROM card_state`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, id, data string
		if err := rows.Scan(&kind, &id, &data); err != nil {
			return err
		}
		if err := cs.loadRow(kind, []byte(data)); err != nil {
			return fmt.Errorf("row %s/%s: %w", kind, id, err)
		}
	}
	return rows.Err()
}

func loadInto[T any](data []byte, put func(*T)) error {
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	put(v)
	return nil
}

func (cs *cardState) loadRow(kind string, data []byte) error {
	switch kind {
	case "meta":
		return json.Unmarshal(data, &cs.meta)
	case "card":
		return loadInto(data, func(c *sbCard) { cs.cards[c.ID] = c })
	case "code":
		return loadInto(data, func(c *sbCode) { cs.codes[c.Code] = c; cs.encrypt[c.EncryptCode] = c.Code })
	case "shop":
		return loadInto(data, func(v *wifiShop) { cs.shops[v.ID] = v })
	case "device":
		return loadInto(data, func(v *wifiDevice) { cs.devices[v.BSSID] = v })
	case "qr":
		return loadInto(data, func(v *wifiQR) { cs.qrs[v.ID] = v })
	}
	return errors.New("unknown kind")
}

func (cs *cardState) touch(kind, id string) { cs.dirty[codeKey{kind, id}] = true }

// flush writes the changed rows in one transaction; -1 (system error) when
// that failed. Callers hold cs.mu.
func (cs *cardState) flush() int {
	if len(cs.dirty) == 0 {
		return 0
	}
	err := cs.write()
	clear(cs.dirty)
	if err != nil {
		cs.s.log.Error("writing the cards state", "err", err)
		return -1
	}
	return 0
}

func (cs *cardState) write() error {
	tx, err := cs.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for k := range cs.dirty {
		v := cs.rowValue(k)
		if v == nil {
			if _, err := tx.Exec(`DELETE FROM card_state WHERE kind = $1 AND id = $2`, k.kind, k.id); err != nil {
				return err
			}
			continue
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO card_state (kind, id, data) VALUES ($1, $2, $3)
			ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data`, k.kind, k.id, string(data)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (cs *cardState) rowValue(k codeKey) any {
	switch k.kind {
	case "meta":
		return &cs.meta
	case "card":
		if v := cs.cards[k.id]; v != nil {
			return v
		}
	case "code":
		if v := cs.codes[k.id]; v != nil {
			return v
		}
	case "shop":
		var id int64
		fmt.Sscan(k.id, &id)
		if v := cs.shops[id]; v != nil {
			return v
		}
	case "device":
		if v := cs.devices[k.id]; v != nil {
			return v
		}
	case "qr":
		if v := cs.qrs[k.id]; v != nil {
			return v
		}
	}
	return nil
}

// cardCaller is the official account behind a card or Wi-Fi API's token.
type cardCaller struct {
	comp     *component
	appid    string
	userName string
}

// officialCaller resolves the authorizer_access_token (its kind was checked
// before: tokens.go) and applies the permission model above: 48001 for a
// mini program, 61007 without permission set need.
func (s *Sandbox) officialCaller(r *http.Request, need int) (cardCaller, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), s.now())
	if code != 0 {
		return cardCaller{}, code
	}
	a := s.st.account(authz.AppID)
	if a == nil || a.MiniProgram {
		return cardCaller{}, 48001
	}
	if !slices.Contains(authz.FuncInfo, need) {
		return cardCaller{}, 61007
	}
	return cardCaller{comp: c, appid: authz.AppID, userName: a.UserName}, 0
}

// cardBaseInfo is base_info of /card/create, with the fields the sandbox checks.
type cardBaseInfo struct {
	LogoURL     string `json:"logo_url"`
	BrandName   string `json:"brand_name"`
	CodeType    string `json:"code_type"`
	Title       string `json:"title"`
	Color       string `json:"color"`
	Notice      string `json:"notice"`
	Description string `json:"description"`
	SKU         *struct {
		Quantity *int64 `json:"quantity"`
	} `json:"sku"`
	DateInfo *struct {
		Type           string `json:"type"`
		BeginTimestamp int64  `json:"begin_timestamp"`
		EndTimestamp   int64  `json:"end_timestamp"`
		FixedTerm      *int   `json:"fixed_term"`
		FixedBeginTerm int    `json:"fixed_begin_term"`
	} `json:"date_info"`
	ServicePhone string `json:"service_phone"`
	GetLimit     *int   `json:"get_limit"`
	CenterTitle  string `json:"center_title"`
	SubTitle     string `json:"sub_title"`
}

// cardInner is the type's inner object: base_info and the type-specific fields.
type cardInner struct {
	BaseInfo      *cardBaseInfo `json:"base_info"`
	LeastCost     *int64        `json:"least_cost"`
	ReduceCost    *int64        `json:"reduce_cost"`
	Discount      *int          `json:"discount"`
	DefaultDetail string        `json:"default_detail"`
	DealDetail    string        `json:"deal_detail"`
	Gift          string        `json:"gift"`
	Prerogative   string        `json:"prerogative"`
	SupplyBonus   *bool         `json:"supply_bonus"`
	SupplyBalance *bool         `json:"supply_balance"`
	memberCardFields
}

// memberCardFields are member_card's optional fields the sandbox checks
// (docs/wechat-cards-wifi.md, 会员卡).
type memberCardFields struct {
	BackgroundPicURL string           `json:"background_pic_url"`
	AutoActivate     *bool            `json:"auto_activate"`
	WxActivate       *bool            `json:"wx_activate"`
	ActivateURL      string           `json:"activate_url"`
	BonusURL         string           `json:"bonus_url"`
	BalanceURL       string           `json:"balance_url"`
	BonusCleared     string           `json:"bonus_cleared"`
	BonusRules       string           `json:"bonus_rules"`
	BalanceRules     string           `json:"balance_rules"`
	CustomField1     *memberCardField `json:"custom_field1"`
	CustomField2     *memberCardField `json:"custom_field2"`
	CustomField3     *memberCardField `json:"custom_field3"`
	BonusRule        *struct {
		CostMoneyUnit        *int64 `json:"cost_money_unit"`
		IncreaseBonus        *int64 `json:"increase_bonus"`
		MaxIncreaseBonus     *int64 `json:"max_increase_bonus"`
		InitIncreaseBonus    *int64 `json:"init_increase_bonus"`
		CostBonusUnit        *int64 `json:"cost_bonus_unit"`
		ReduceMoney          *int64 `json:"reduce_money"`
		LeastMoneyToUseBonus *int64 `json:"least_money_to_use_bonus"`
		MaxReduceBonus       *int64 `json:"max_reduce_bonus"`
	} `json:"bonus_rule"`
}

// memberCardField is a custom_field of a member card: a named type or a
// name of the merchant's, and where it links.
type memberCardField struct {
	NameType string `json:"name_type"`
	Name     string `json:"name"`
	URL      string `json:"url"`
}

// fieldNameTypes are WeChat's name_type values of custom_field1..3.
var fieldNameTypes = []string{"FIELD_NAME_TYPE_LEVEL", "FIELD_NAME_TYPE_COUPON", "FIELD_NAME_TYPE_STAMP", "FIELD_NAME_TYPE_DISCOUNT",
	"FIELD_NAME_TYPE_ACHIEVEMEN", "FIELD_NAME_TYPE_MILEAGE", "FIELD_NAME_SET_POINTS", "FIELD_NAME_TYPE_TIMS"}

// checkMemberCard applies member_card's own rules (after base_info's):
// prerogative, supply_bonus and supply_balance required (41011);
// prerogative ≤ 1024 characters, the URLs ≤ 128 bytes, the custom fields'
// names ≤ 5 characters (45021); background_pic_url on WeChat's CDN, a custom
// field with a known name_type or a name, bonus_rule's numbers ≥ 0 and
// discount 0 … 99 (40097).
func checkMemberCard(in *cardInner) int {
	if in.Prerogative == "" || in.SupplyBonus == nil || in.SupplyBalance == nil {
		return errMissingField
	}
	if c := maxRunes(in.Prerogative, 1024); c != 0 {
		return c
	}
	m := in.memberCardFields
	for _, u := range []string{m.BackgroundPicURL, m.ActivateURL, m.BonusURL, m.BalanceURL} {
		if len(u) > 128 {
			return errTooLong
		}
	}
	if m.BackgroundPicURL != "" && !onWeChatCDN(m.BackgroundPicURL) {
		return errInvalidArgs
	}
	for _, f := range []*memberCardField{m.CustomField1, m.CustomField2, m.CustomField3} {
		if f == nil {
			continue
		}
		if f.NameType == "" && f.Name == "" {
			return errMissingField
		}
		if f.NameType != "" && !slices.Contains(fieldNameTypes, f.NameType) {
			return errInvalidArgs
		}
		if c := maxRunes(f.Name, 5); c != 0 || len(f.URL) > 128 {
			return errTooLong
		}
	}
	if r := m.BonusRule; r != nil {
		for _, v := range []*int64{r.CostMoneyUnit, r.IncreaseBonus, r.MaxIncreaseBonus, r.InitIncreaseBonus, r.CostBonusUnit,
			r.ReduceMoney, r.LeastMoneyToUseBonus, r.MaxReduceBonus} {
			if v != nil && *v < 0 {
				return errInvalidArgs
			}
		}
	}
	if in.Discount != nil && (*in.Discount < 0 || *in.Discount > 99) {
		return errInvalidArgs
	}
	return 0
}

// onWeChatCDN: an image /cgi-bin/media/uploadimg put on mmbiz.qpic.cn.
func onWeChatCDN(u string) bool {
	return strings.HasPrefix(u, "http://mmbiz.qpic.cn/") || strings.HasPrefix(u, "https://mmbiz.qpic.cn/")
}

var codeTypes = []string{"CODE_TYPE_TEXT", "CODE_TYPE_BARCODE", "CODE_TYPE_QRCODE", "CODE_TYPE_ONLY_QRCODE",
	"CODE_TYPE_ONLY_BARCODE", "CODE_TYPE_NONE"}

// Card errcodes and their errmsgs: WeChat's global return-code table as
// binarywang/WxJava's WxOpenErrorMsgEnum copies it (docs/wechat-cards-wifi.md).
// The table has no code for a bad code_type (40072 there is an invalid
// location id): that is the generic 40097.
const (
	errInvalidCardType = 40071 // invalid card type
	errInvalidCardID   = 40073 // invalid card id
	errInvalidEncrypt  = 40075 // invalid encrypt code
	errInvalidColor    = 40076 // invalid color id
	errInvalidTime     = 40079 // invalid time
	errInvalidArgs     = 40097 // 参数错误
	errInvalidCode     = 40056 // invalid serial code
	errCodeConsumed    = 40099 // the code was consumed
	errUserCardStatus  = 40127 // the user's code was deleted, expired or made unavailable
	errMissingField    = 41011 // missing required fields
	errTooLong         = 45021 // an argument over its length limit
	errInvalidQuantity = 40122 // invalid card quantity
)

// cardErrmsg is WeChat's errmsg for the card and Wi-Fi errcodes.
func cardErrmsg(code int) (string, bool) {
	m, ok := map[int]string{
		errInvalidCardType: "invalid card type",
		errInvalidCardID:   "invalid card id",
		errInvalidEncrypt:  "invalid encrypt code",
		errInvalidColor:    "invalid color id",
		errInvalidTime:     "invalid time",
		errInvalidArgs:     "invalid args",
		errInvalidCode:     "invalid serial code",
		errCodeConsumed:    "invalid code, this code has consumed.",
		errUserCardStatus:  "invalid user-card status! Hint: the card was given to user, but may be deleted or expired or set unavailable !",
		errMissingField:    "missing required fields! please check document and request json!",
		errTooLong:         "some argument may be out of length limit! please check document and request json!",
		errInvalidQuantity: "invalid card quantity",
	}[code]
	return m, ok
}

// maxRunes reports 45021 when v is longer than n characters.
func maxRunes(v string, n int) int {
	if utf8.RuneCountInString(v) > n {
		return errTooLong
	}
	return 0
}

// checkCard applies /card/create's rules to the card object: the type and
// its inner object, base_info's required fields and limits, the date and the
// type's own fields. It returns the parsed inner object.
func checkCard(raw map[string]json.RawMessage, now time.Time) (string, *cardInner, json.RawMessage, int) {
	var typ string
	if t, ok := raw["card_type"]; !ok || json.Unmarshal(t, &typ) != nil || typ == "" {
		return "", nil, nil, errMissingField
	}
	if !slices.Contains(cardTypes, typ) {
		return "", nil, nil, errInvalidCardType
	}
	innerRaw, ok := raw[strings.ToLower(typ)]
	if !ok || string(innerRaw) == "null" {
		return "", nil, nil, errMissingField // the inner object must match card_type
	}
	var in cardInner
	if json.Unmarshal(innerRaw, &in) != nil {
		return "", nil, nil, 47001
	}
	b := in.BaseInfo
	if b == nil || b.LogoURL == "" || b.BrandName == "" || b.CodeType == "" || b.Title == "" || b.Color == "" ||
		b.Notice == "" || b.Description == "" || b.SKU == nil || b.SKU.Quantity == nil || b.DateInfo == nil {
		return "", nil, nil, errMissingField
	}
	for _, c := range []int{maxRunes(b.BrandName, 12), maxRunes(b.Title, 9), maxRunes(b.Notice, 16),
		maxRunes(b.Description, 1024), maxRunes(b.CenterTitle, 6), maxRunes(b.SubTitle, 18)} {
		if c != 0 {
			return "", nil, nil, c
		}
	}
	if !slices.Contains(codeTypes, b.CodeType) || !onWeChatCDN(b.LogoURL) {
		return "", nil, nil, errInvalidArgs
	}
	if !validColor(b.Color) {
		return "", nil, nil, errInvalidColor
	}
	if q := *b.SKU.Quantity; q < 0 || q > 100_000_000 {
		return "", nil, nil, errInvalidQuantity
	}
	switch d := b.DateInfo; d.Type {
	case "DATE_TYPE_FIX_TIME_RANGE":
		if d.BeginTimestamp <= 0 || d.EndTimestamp <= d.BeginTimestamp || d.EndTimestamp <= now.Unix() {
			return "", nil, nil, errInvalidTime
		}
	case "DATE_TYPE_FIX_TERM":
		if d.FixedTerm == nil || *d.FixedTerm <= 0 || d.FixedBeginTerm < 0 {
			return "", nil, nil, errInvalidTime
		}
	case "DATE_TYPE_PERMANENT":
		if typ != "MEMBER_CARD" {
			return "", nil, nil, errInvalidTime
		}
	default:
		return "", nil, nil, errInvalidTime
	}
	switch typ {
	case "CASH":
		if in.ReduceCost == nil || in.LeastCost == nil {
			return "", nil, nil, errMissingField
		}
		if *in.ReduceCost <= 0 || *in.LeastCost < 0 || *in.LeastCost > 0 && *in.LeastCost < *in.ReduceCost {
			return "", nil, nil, errInvalidArgs
		}
	case "DISCOUNT":
		if in.Discount == nil {
			return "", nil, nil, errMissingField
		}
		if *in.Discount < 1 || *in.Discount > 99 {
			return "", nil, nil, errInvalidArgs
		}
	case "GENERAL_COUPON":
		if in.DefaultDetail == "" {
			return "", nil, nil, errMissingField
		}
	case "GROUPON":
		if in.DealDetail == "" {
			return "", nil, nil, errMissingField
		}
	case "GIFT":
		if in.Gift == "" {
			return "", nil, nil, errMissingField
		}
	case "MEMBER_CARD":
		if code := checkMemberCard(&in); code != 0 {
			return "", nil, nil, code
		}
	}
	return typ, &in, innerRaw, 0
}

// validColor takes WeChat's palette names Color010 … Color100 (steps of 10).
func validColor(c string) bool {
	var n int
	if len(c) != 8 || !strings.HasPrefix(c, "Color") {
		return false
	}
	if _, err := fmt.Sscanf(c[5:], "%03d", &n); err != nil {
		return false
	}
	return n >= 10 && n <= 100 && n%10 == 0
}

// newCardID returns a card_id shaped like WeChat's: 28 characters starting with "p".
func newCardID() string { return "p" + randomToken(21)[:27] }

// POST /card/create {"card":{"card_type":"…","<type>":{"base_info":{…},…}}} → {card_id}
func (s *Sandbox) apiCardCreate(r *http.Request, body []byte) (any, int) {
	var req struct {
		Card map[string]json.RawMessage `json:"card"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcCards)
	if code != 0 {
		return nil, code
	}
	if req.Card == nil {
		return nil, errMissingField
	}
	now := s.now()
	typ, in, inner, code := checkCard(req.Card, now)
	if code != 0 {
		return nil, code
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := &sbCard{ID: newCardID(), AppID: who.appid, Component: who.comp.AppID, UserName: who.userName, Type: typ,
		Inner: inner, Title: in.BaseInfo.Title, Quantity: *in.BaseInfo.SKU.Quantity, Status: cardNotVerify,
		CreatedAt: now, DueAt: now.Add(cs.meta.Rules.delay())}
	if d := in.BaseInfo.DateInfo; d.Type == "DATE_TYPE_FIX_TIME_RANGE" {
		c.BeginAt, c.EndAt = time.Unix(d.BeginTimestamp, 0).UTC(), time.Unix(d.EndTimestamp, 0).UTC()
	} else if d.FixedTerm != nil {
		c.FixedTerm = *d.FixedTerm
	}
	cs.cards[c.ID] = c
	cs.touch("card", c.ID)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return struct {
		wxError
		CardID string `json:"card_id"`
	}{wxError{0, "ok"}, c.ID}, 0
}

// appCard finds one of the caller's cards by the body's card_id: 40073 when
// it is missing, unknown or another account's. Callers hold cs.mu.
func (cs *cardState) appCard(appid, cardID string) (*sbCard, int) {
	c := cs.cards[cardID]
	if cardID == "" || c == nil || c.AppID != appid {
		return nil, errInvalidCardID
	}
	return c, 0
}

// POST /card/get {card_id} → {card:{card_type, <type>:{base_info:{…, id, status}, …}}}
func (s *Sandbox) apiCardGet(r *http.Request, body []byte) (any, int) {
	var req struct {
		CardID string `json:"card_id"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcCards)
	if code != 0 {
		return nil, code
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.decideAllLocked()
	c, code := cs.appCard(who.appid, req.CardID)
	if code != 0 {
		return nil, code
	}
	var inner map[string]any
	json.Unmarshal(c.Inner, &inner)
	base, _ := inner["base_info"].(map[string]any)
	if base == nil {
		base = map[string]any{}
	}
	base["id"], base["status"] = c.ID, c.Status
	inner["base_info"] = base
	return map[string]any{"errcode": 0, "errmsg": "ok",
		"card": map[string]any{"card_type": c.Type, strings.ToLower(c.Type): inner}}, 0
}

// cardCodeRequest is the body of the /card/code/* APIs.
type cardCodeRequest struct {
	Code         string `json:"code"`
	CardID       string `json:"card_id"`
	CheckConsume *bool  `json:"check_consume"`
}

// appCode finds a code of the caller's cards: 41011 without one, 40056 when
// unknown or another account's, 40073 when card_id names another card.
// Callers hold cs.mu.
func (cs *cardState) appCode(appid string, req cardCodeRequest) (*sbCode, *sbCard, int) {
	if req.Code == "" {
		return nil, nil, errMissingField
	}
	cc := cs.codes[req.Code]
	if cc == nil || cs.cards[cc.CardID].AppID != appid {
		return nil, nil, errInvalidCode
	}
	if req.CardID != "" && req.CardID != cc.CardID {
		return nil, nil, errInvalidCardID
	}
	return cc, cs.cards[cc.CardID], 0
}

// codeTimes is a code's validity: the card's range, or fixed_term days from receipt.
func codeTimes(c *sbCard, cc *sbCode) (begin, end time.Time) {
	if !c.EndAt.IsZero() {
		return c.BeginAt, c.EndAt
	}
	if c.FixedTerm > 0 {
		return cc.ReceivedAt, cc.ReceivedAt.AddDate(0, 0, c.FixedTerm)
	}
	return cc.ReceivedAt, time.Time{}
}

// POST /card/code/get {code, card_id?, check_consume?} → {openid, card:{…}, can_consume, user_card_status}
func (s *Sandbox) apiCardCodeGet(r *http.Request, body []byte) (any, int) {
	var req cardCodeRequest
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcCards)
	if code != 0 {
		return nil, code
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cc, c, code := cs.appCode(who.appid, req)
	if code != 0 {
		return nil, code
	}
	status := "NORMAL"
	begin, end := codeTimes(c, cc)
	switch {
	case !cc.ConsumedAt.IsZero():
		status = "CONSUMED"
	case !end.IsZero() && !s.now().Before(end):
		status = "EXPIRE"
	}
	if req.CheckConsume == nil || *req.CheckConsume { // check_consume defaults to true
		switch status {
		case "CONSUMED":
			return nil, errCodeConsumed
		case "EXPIRE":
			return nil, errUserCardStatus
		}
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "openid": cc.OpenID, "can_consume": status == "NORMAL",
		"user_card_status": status,
		"card":             map[string]any{"card_id": c.ID, "begin_time": unix(begin), "end_time": unix(end), "code": cc.Code}}, 0
}

// POST /card/code/consume {code, card_id?} → {card:{card_id}, openid}; 40099 the second time.
func (s *Sandbox) apiCardConsume(r *http.Request, body []byte) (any, int) {
	var req cardCodeRequest
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcCards)
	if code != 0 {
		return nil, code
	}
	cs := s.cards
	cs.mu.Lock()
	cc, c, code := cs.appCode(who.appid, req)
	if code == 0 && !cc.ConsumedAt.IsZero() {
		code = errCodeConsumed
	}
	now := s.now()
	if code == 0 {
		if _, end := codeTimes(c, cc); !end.IsZero() && !now.Before(end) {
			code = errUserCardStatus // expired
		}
	}
	if code != 0 {
		cs.mu.Unlock()
		return nil, code
	}
	cc.ConsumedAt = now
	c.Consumed++
	cs.touch("code", cc.Code)
	cs.touch("card", c.ID)
	if code := cs.flush(); code != 0 {
		cs.mu.Unlock()
		return nil, code
	}
	cs.mu.Unlock()

	var x xmlDoc
	x.str("ToUserName", c.UserName)
	x.str("FromUserName", cc.OpenID)
	x.num("CreateTime", s.wall().Unix())
	x.str("MsgType", "event")
	x.str("Event", "user_consume_card")
	x.str("CardId", c.ID)
	x.str("UserCardCode", cc.Code)
	x.str("ConsumeSource", "FROM_API")
	x.str("LocationName", "")
	x.str("StaffOpenId", "")
	x.str("VerifyCode", "")
	x.str("RemarkAmount", "")
	x.str("OuterStr", "")
	if comp := s.byID[c.Component]; comp != nil {
		s.pushAsync(pushJob{comp: comp, kind: kindMessage, appID: c.AppID, toUser: c.UserName, openID: cc.OpenID,
			event: "user_consume_card", plain: x.bytes()})
	}
	return struct {
		wxError
		Card   map[string]string `json:"card"`
		OpenID string            `json:"openid"`
	}{wxError{0, "ok"}, map[string]string{"card_id": c.ID}, cc.OpenID}, 0
}

// POST /card/code/decrypt {encrypt_code} → {code}
func (s *Sandbox) apiCardDecrypt(r *http.Request, body []byte) (any, int) {
	var req struct {
		EncryptCode string `json:"encrypt_code"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	who, code := s.officialCaller(r, funcCards)
	if code != 0 {
		return nil, code
	}
	if req.EncryptCode == "" {
		return nil, errMissingField
	}
	cs := s.cards
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cc := cs.codes[cs.encrypt[req.EncryptCode]]
	if cc == nil || cs.cards[cc.CardID].AppID != who.appid {
		return nil, errInvalidEncrypt
	}
	return struct {
		wxError
		Code string `json:"code"`
	}{wxError{0, "ok"}, cc.Code}, 0
}

// simulate decides due reviews as real time passes, until the sandbox closes.
func (cs *cardState) simulate(ctx context.Context) {
	t := time.NewTicker(simulateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cs.mu.Lock()
			cs.decideAllLocked()
			cs.mu.Unlock()
		}
	}
}

// decideAllLocked decides every review due on the sandbox clock and pushes
// card_pass_check or card_not_pass_check for each. Callers hold cs.mu.
func (cs *cardState) decideAllLocked() {
	now := cs.s.now()
	var jobs []pushJob
	for _, c := range cs.cards {
		if c.Status != cardNotVerify || c.DueAt.IsZero() || c.DueAt.After(now) {
			continue
		}
		rules := cs.meta.Rules
		word := cs.rejectWord(c, rules.RejectWords)
		pass := word == "" && rules.Verdict != "reject"
		if job, ok := cs.verdictLocked(c, pass, refuseReason(rules.RefuseReason, word)); ok { // cards_review.go
			jobs = append(jobs, job)
		}
	}
	if len(jobs) == 0 || cs.flush() != 0 {
		return
	}
	for _, j := range jobs {
		cs.s.pushAsync(j)
	}
}

func (cs *cardState) rejectWord(c *sbCard, words []string) string {
	for _, w := range words {
		if strings.Contains(string(c.Inner), w) {
			return w
		}
	}
	return ""
}

func refuseReason(set, word string) string {
	switch {
	case word != "":
		return "卡券信息含有违规内容“" + word + "”，不符合《微信卡券运营规范》，请修改后重新提交。"
	case set != "":
		return set
	}
	return "卡券信息不完整或与商户资质不符，请补充后重新提交。"
}

// cardRoutes registers the card and Wi-Fi APIs as emulated APIs (counted,
// fault-injectable, quota-limited like the others) and their control API.
func (s *Sandbox) cardRoutes(mux *http.ServeMux, known map[string]bool) {
	for path, h := range map[string]apiFunc{
		"/card/create":           s.apiCardCreate,
		"/card/get":              s.apiCardGet,
		"/card/code/get":         s.apiCardCodeGet,
		"/card/code/consume":     s.apiCardConsume,
		"/card/code/decrypt":     s.apiCardDecrypt,
		"/bizwifi/shop/list":     s.apiWiFiShopList,
		"/bizwifi/shop/get":      s.apiWiFiShopGet,
		"/bizwifi/device/add":    s.apiWiFiDeviceAdd,
		"/bizwifi/device/list":   s.apiWiFiDeviceList,
		"/bizwifi/device/delete": s.apiWiFiDeviceDelete,
		"/bizwifi/qrcode/get":    s.apiWiFiQRCode,
	} {
		mux.HandleFunc("POST "+path, s.api(path, h))
		known[path] = true
	}
	mux.HandleFunc("GET /sandbox/api/card-rules", s.handleGetCardRules)
	mux.HandleFunc("POST /sandbox/api/card-rules", s.handleSetCardRules)
	mux.HandleFunc("GET /sandbox/api/apps/{appid}/cards", s.handleAppCards)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/cards/{card_id}/receive", s.handleReceiveCard)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/wifi/shops", s.handleAddShop)
	mux.HandleFunc("GET /sandbox/static/bizwifi/{file}", s.handleWiFiQR)
}
