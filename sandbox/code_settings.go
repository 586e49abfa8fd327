package sandbox

import (
	"net/http"
	"slices"
	"time"
)

// The settings a release depends on, per mini program with its authorizer
// token: server domains (服务器域名), business domains (业务域名), testers
// (体验者) and the privacy guide (用户隐私保护指引). docs/wechat-code.md
// "Settings a release depends on".

// codeDomains are a mini program's server domains.
type codeDomains struct {
	Request   []string `json:"requestdomain"`
	WSRequest []string `json:"wsrequestdomain"`
	Upload    []string `json:"uploaddomain"`
	Download  []string `json:"downloaddomain"`
	UDP       []string `json:"udpdomain"`
	TCP       []string `json:"tcpdomain"`
}

func emptyDomains() codeDomains {
	return codeDomains{Request: []string{}, WSRequest: []string{}, Upload: []string{}, Download: []string{},
		UDP: []string{}, TCP: []string{}}
}

func (d *codeDomains) lists() []*[]string {
	return []*[]string{&d.Request, &d.WSRequest, &d.Upload, &d.Download, &d.UDP, &d.TCP}
}

// serverDomainLimit is WeChat's total of server domains (85016).
const serverDomainLimit = 1000

// POST /wxa/modify_domain {action, requestdomain[], ...}
func (s *Sandbox) apiModifyDomain(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		Action string `json:"action"`
		codeDomains
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(who.appid)
	p := cs.platformDomainsOf(who.comp.AppID)
	next := a.Domains
	have, give := next.lists(), req.codeDomains.lists()
	if req.Action == "add" || req.Action == "set" {
		if code := checkServerDomains(p, req.codeDomains); code != 0 {
			return nil, code
		}
	}
	switch req.Action {
	case "get":
	case "":
		// Without an action WeChat copies the platform's registered
		// server domains to the app.
		next = emptyDomains()
		for _, h := range p.Server {
			next.Request = append(next.Request, "https://"+h)
			next.WSRequest = append(next.WSRequest, "wss://"+h)
			next.Upload = append(next.Upload, "https://"+h)
			next.Download = append(next.Download, "https://"+h)
		}
		have = next.lists()
	case "set":
		for i := range have {
			*have[i] = dedupe(*give[i])
		}
	case "add":
		for i := range have {
			*have[i] = dedupe(append(slices.Clone(*have[i]), *give[i]...))
		}
	case "delete":
		for i := range have {
			*have[i] = slices.DeleteFunc(slices.Clone(*have[i]), func(v string) bool { return slices.Contains(*give[i], v) })
		}
	default:
		return nil, 85022
	}
	total := 0
	for _, l := range have {
		total += len(*l)
	}
	if total > serverDomainLimit {
		return nil, 85016
	}
	if req.Action == "add" && next.equal(a.Domains) {
		return nil, 85017 // nothing new added
	}
	if req.Action != "get" {
		a.Domains = next
		cs.touchApp(a)
		if code := cs.flush(); code != 0 {
			return nil, code
		}
	}
	return struct {
		wxError
		codeDomains
	}{wxError{0, "ok"}, a.Domains}, 0
}

func (d codeDomains) equal(o codeDomains) bool {
	x, y := d.lists(), o.lists()
	for i := range x {
		if !slices.Equal(*x[i], *y[i]) {
			return false
		}
	}
	return true
}

// dedupe drops empty and repeated values, keeping the first order.
func dedupe(list []string) []string {
	out := []string{}
	for _, v := range list {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// webviewLimit is WeChat's limit of business domains (89029).
const webviewLimit = 100

// POST /wxa/setwebviewdomain {action, webviewdomain[]}
func (s *Sandbox) apiWebviewDomain(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		Action  string   `json:"action"`
		Domains []string `json:"webviewdomain"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(who.appid)
	p := cs.platformDomainsOf(who.comp.AppID)
	next := slices.Clone(a.Webview)
	if req.Action == "add" || req.Action == "set" {
		if code := checkWebviewDomains(p, req.Domains); code != 0 {
			return nil, code
		}
	}
	switch req.Action {
	case "get":
	case "":
		// As for modify_domain: the platform's business domains are copied.
		if len(p.Jump) == 0 {
			return nil, 89020
		}
		next = nil
		for _, h := range p.Jump {
			next = append(next, "https://"+h)
		}
	case "set":
		next = dedupe(req.Domains)
	case "add":
		next = dedupe(append(next, req.Domains...))
	case "delete":
		for _, d := range req.Domains {
			if !slices.Contains(next, d) {
				return nil, 89022
			}
		}
		next = slices.DeleteFunc(next, func(v string) bool { return slices.Contains(req.Domains, v) })
	default:
		return nil, 85022
	}
	if req.Action != "get" {
		if slices.Equal(next, a.Webview) {
			return nil, 89019
		}
		if len(next) > webviewLimit {
			return nil, 89029
		}
		a.Webview = next
		cs.touchApp(a)
		if code := cs.flush(); code != 0 {
			return nil, code
		}
	}
	return struct {
		wxError
		Domains []string `json:"webviewdomain"`
	}{wxError{0, "ok"}, a.Webview}, 0
}

// POST /wxa/bind_tester {wechatid} → {userstr}: 85001 an unknown WeChat id,
// 85004 already a tester, 85002 the app's testers full, 85003 the user a
// tester of tester_apps_limit mini programs already.
func (s *Sandbox) apiBindTester(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		WeChatID string `json:"wechatid"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	if req.WeChatID == "" {
		return nil, 85001
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.weChatUserExists(req.WeChatID) {
		return nil, 85001 // no such WeChat user (or not searchable)
	}
	a := cs.app(who.appid)
	if _, bound := a.Testers[req.WeChatID]; bound {
		return nil, 85004
	}
	if len(a.Testers) >= testerLimit {
		return nil, 85002
	}
	if cs.testerAppsLocked(req.WeChatID) >= cs.meta.Limits.TesterApps {
		return nil, 85003 // this WeChat user is a tester of too many mini programs
	}
	if a.Testers == nil {
		a.Testers = map[string]string{}
	}
	userstr := randomToken(24)
	a.Testers[req.WeChatID] = userstr
	cs.touchApp(a)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return struct {
		wxError
		UserStr string `json:"userstr"`
	}{wxError{0, "ok"}, userstr}, 0
}

// testerAppsLocked counts the mini programs, of every platform, that have
// the WeChat user as a tester: WeChat's 85003 limits them per user.
// Callers hold cs.mu.
func (cs *codeState) testerAppsLocked(wechatID string) int {
	n := 0
	for _, a := range cs.apps {
		if _, ok := a.Testers[wechatID]; ok {
			n++
		}
	}
	return n
}

// POST /wxa/unbind_tester {wechatid} or {userstr}
func (s *Sandbox) apiUnbindTester(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		WeChatID string `json:"wechatid"`
		UserStr  string `json:"userstr"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	if req.WeChatID == "" && req.UserStr == "" {
		return nil, 47001
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(who.appid)
	for id, us := range a.Testers {
		if id == req.WeChatID || (req.UserStr != "" && us == req.UserStr) {
			delete(a.Testers, id)
			cs.touchApp(a)
		}
	}
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// POST /wxa/memberauth {action: "get_experiencer"} → {members[{userstr}]}.
// SKIT puts the action in the query string, WxJava in the body: both are
// accepted (a source shows each reaching WeChat).
func (s *Sandbox) apiMemberAuth(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		Action string `json:"action"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	if req.Action == "" {
		req.Action = r.URL.Query().Get("action")
	}
	if req.Action != "get_experiencer" {
		return nil, 47001
	}
	type member struct {
		UserStr string `json:"userstr"`
	}
	cs := s.code
	cs.mu.Lock()
	members := []member{}
	for _, us := range cs.app(who.appid).Testers {
		members = append(members, member{us})
	}
	cs.mu.Unlock()
	slices.SortFunc(members, func(a, b member) int { return compareStrings(a.UserStr, b.UserStr) })
	return struct {
		wxError
		Members []member `json:"members"`
	}{wxError{0, "ok"}, members}, 0
}

// privacyOwner is owner_setting of the privacy guide.
type privacyOwner struct {
	ContactEmail         string `json:"contact_email"`
	ContactPhone         string `json:"contact_phone"`
	ContactQQ            string `json:"contact_qq"`
	ContactWeixin        string `json:"contact_weixin"`
	ExtFileMediaID       string `json:"ext_file_media_id"`
	NoticeMethod         string `json:"notice_method"`
	StoreExpireTimestamp string `json:"store_expire_timestamp"`
}

// privacyElement is one entry of setting_list.
type privacyElement struct {
	PrivacyKey   string `json:"privacy_key"`
	PrivacyText  string `json:"privacy_text"`
	PrivacyLabel string `json:"privacy_label,omitempty"`
}

// privacySetting is a privacy guide as set.
type privacySetting struct {
	Owner      privacyOwner     `json:"owner_setting"`
	Settings   []privacyElement `json:"setting_list"`
	UpdateTime time.Time        `json:"update_time"`
}

// privacyLabels are the privacy keys WeChat names, with their labels.
func privacyLabel(key string) string {
	switch key {
	case "UserInfo":
		return "用户信息（微信昵称、头像）"
	case "Location":
		return "位置信息"
	case "Address":
		return "地址"
	case "Invoice":
		return "发票信息"
	case "RunData":
		return "微信运动数据"
	case "Record":
		return "麦克风"
	case "Album":
		return "选中的照片或视频信息"
	case "Camera":
		return "摄像头"
	case "PhoneNumber":
		return "手机号码"
	case "Contact":
		return "通讯录（仅写入）权限"
	case "DeviceInfo":
		return "设备信息"
	case "EXIDNumber":
		return "身份证号码"
	case "EXOrderInfo":
		return "订单信息"
	case "EXUserPublishContent":
		return "发布内容"
	case "EXUserFollowAcct":
		return "所关注账号"
	case "EXUserOpLog":
		return "操作日志"
	case "AlbumWriteOnly":
		return "相册（仅写入）权限"
	case "ChooseLocation":
		return "选择的位置信息"
	case "Clipboard":
		return "剪切板"
	}
	return key
}

// POST /cgi-bin/component/setprivacysetting?access_token=<authorizer token>
// {privacy_ver?, owner_setting, setting_list}: the authorizer's token
// despite the path (WxJava, SKIT).
func (s *Sandbox) apiSetPrivacy(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		PrivacyVer *int             `json:"privacy_ver"`
		Owner      *privacyOwner    `json:"owner_setting"`
		Settings   []privacyElement `json:"setting_list"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	ver := 2
	if req.PrivacyVer != nil {
		ver = *req.PrivacyVer
	}
	o := req.Owner
	if ver != 1 && ver != 2 || o == nil || o.NoticeMethod == "" ||
		o.ContactEmail == "" && o.ContactPhone == "" && o.ContactQQ == "" && o.ContactWeixin == "" {
		return nil, 47001
	}
	for _, e := range req.Settings {
		if e.PrivacyKey == "" || e.PrivacyText == "" {
			return nil, 47001
		}
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(who.appid)
	if a.Privacy == nil {
		a.Privacy = map[string]*privacySetting{}
	}
	settings := make([]privacyElement, len(req.Settings))
	for i, e := range req.Settings {
		settings[i] = privacyElement{PrivacyKey: e.PrivacyKey, PrivacyText: e.PrivacyText}
	}
	a.Privacy[itoa(ver)] = &privacySetting{Owner: *o, Settings: settings, UpdateTime: cs.now()}
	cs.touchApp(a)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// POST /cgi-bin/component/getprivacysetting?access_token=<authorizer token> {privacy_ver}
func (s *Sandbox) apiGetPrivacy(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		PrivacyVer *int `json:"privacy_ver"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	ver := 2
	if req.PrivacyVer != nil {
		ver = *req.PrivacyVer
	}
	if ver != 1 && ver != 2 {
		return nil, 47001
	}
	type desc struct {
		PrivacyKey  string `json:"privacy_key"`
		PrivacyDesc string `json:"privacy_desc"`
	}
	out := struct {
		wxError
		CodeExist   int              `json:"code_exist"`
		PrivacyList []string         `json:"privacy_list"`
		SettingList []privacyElement `json:"setting_list"`
		UpdateTime  int64            `json:"update_time"`
		Owner       privacyOwner     `json:"owner_setting"`
		Desc        struct {
			List []desc `json:"privacy_desc_list"`
		} `json:"privacy_desc"`
	}{wxError: wxError{0, "ok"}, PrivacyList: []string{}, SettingList: []privacyElement{}}
	out.Desc.List = []desc{}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(who.appid)
	var v *codeVersion
	if ver == 2 {
		v = a.Exp
	} else if a.Online != nil {
		v = &a.Online.Version
	}
	if v != nil {
		out.CodeExist = 1
		out.PrivacyList = append(out.PrivacyList, v.PrivacyKeys...)
		for _, k := range v.PrivacyKeys {
			out.Desc.List = append(out.Desc.List, desc{k, privacyLabel(k)})
		}
	}
	if p := a.Privacy[itoa(ver)]; p != nil {
		out.Owner, out.UpdateTime = p.Owner, unix(p.UpdateTime)
		for _, e := range p.Settings {
			e.PrivacyLabel = privacyLabel(e.PrivacyKey)
			out.SettingList = append(out.SettingList, e)
		}
	}
	return out, 0
}
