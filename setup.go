package wxfleet

import (
	"slices"
	"time"
)

// TemplatePolicy is what a template declares about the settings its code
// needs on every mini program it is committed to: server domains (服务器域名),
// business domains (业务域名, web-view) and the privacy guide
// (用户隐私保护指引). Merchants cannot set these themselves, so the platform
// applies them when an app authorizes and checks them before every commit
// (docs/wechat-code.md "Settings a release depends on"). A nil part is not
// managed: the app keeps whatever it has.
type TemplatePolicy struct {
	Domains       *DomainPolicy  `json:"domains,omitempty"`
	WebviewDomain *[]string      `json:"webviewdomain,omitempty"`
	Privacy       *PrivacyPolicy `json:"privacy,omitempty"`
}

// Empty tells whether the policy manages nothing.
func (p *TemplatePolicy) Empty() bool {
	return p == nil || p.Domains == nil && p.WebviewDomain == nil && p.Privacy == nil
}

// DomainPolicy is the server domains of modify_domain, each list as WeChat
// names it.
type DomainPolicy struct {
	RequestDomain   []string `json:"requestdomain"`
	WSRequestDomain []string `json:"wsrequestdomain"`
	UploadDomain    []string `json:"uploaddomain"`
	DownloadDomain  []string `json:"downloaddomain"`
	UDPDomain       []string `json:"udpdomain"`
	TCPDomain       []string `json:"tcpdomain"`
}

// Lists returns the six lists in modify_domain's order.
func (d *DomainPolicy) Lists() [][]string {
	return [][]string{d.RequestDomain, d.WSRequestDomain, d.UploadDomain, d.DownloadDomain, d.UDPDomain, d.TCPDomain}
}

// PrivacyPolicy is the privacy guide of setprivacysetting: how users reach
// the developer (owner_setting) and why each kind of data is collected
// (setting_list).
type PrivacyPolicy struct {
	OwnerSetting PrivacyOwner  `json:"owner_setting"`
	SettingList  []PrivacyItem `json:"setting_list"`
}

// PrivacyOwner is owner_setting.
type PrivacyOwner struct {
	ContactEmail         string `json:"contact_email,omitempty"`
	ContactPhone         string `json:"contact_phone,omitempty"`
	ContactQQ            string `json:"contact_qq,omitempty"`
	ContactWeixin        string `json:"contact_weixin,omitempty"`
	ExtFileMediaID       string `json:"ext_file_media_id,omitempty"`
	NoticeMethod         string `json:"notice_method"`
	StoreExpireTimestamp string `json:"store_expire_timestamp,omitempty"`
}

// PrivacyItem is one entry of setting_list.
type PrivacyItem struct {
	PrivacyKey  string `json:"privacy_key"`
	PrivacyText string `json:"privacy_text"`
}

// SameSet tells whether a and b hold the same values, in any order and
// ignoring repeats.
func SameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// Fleet action kinds: settings applied to many mini programs the same
// durable way as a rollout (one River job per app, paced, with progress).
const (
	ActionSetup        = "setup"         // apply a template's policy (domains, web-view domains, privacy guide)
	ActionBindTester   = "bind_tester"   // add an experience member (体验者)
	ActionUnbindTester = "unbind_tester" // remove one
)

// Fleet action statuses.
const (
	FleetRunning   = "running"
	FleetCompleted = "completed"
)

// App states of a fleet action.
const (
	FleetAppPending = "pending"
	FleetAppDone    = "done"    // applied (or nothing to change); Result says what was done
	FleetAppFailed  = "failed"  // LastError says why
	FleetAppSkipped = "skipped" // not attempted; Result says why
)

// FleetAction applies one setting change to a set of mini programs.
type FleetAction struct {
	ID             int64
	ComponentAppID string
	Kind           string // ActionSetup, ActionBindTester, ActionUnbindTester
	TemplateID     int64  // setup: the template whose policy is applied
	WeChatID       string // testers: the WeChat id (微信号)
	UserStr        string // unbind_tester: WeChat's userstr instead of a WeChat id
	Targets        RolloutTargets
	Status         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// FleetActionApp is one mini program's part in a fleet action.
type FleetActionApp struct {
	ActionID    int64
	AppID       string
	State       string
	Result      string
	LastErrcode int
	LastError   string
	Attempts    int
	UpdatedAt   time.Time
}
