package sandbox

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go)
)

// Code management (代小程序开发) keeps its own state, apart from the
// sandbox's core state: the template library per component, and per mini
// program its 体验版, audits, online version, history, gray release and
// settings. It lives in memory, guarded by codeState.mu (never held together
// with Sandbox.mu), and every change is written to {DataDir}/sandbox-code.db
// in one small transaction before the API answers, so what the platform was
// told survives a restart (and a crash of the sandbox process; WAL with
// synchronous=NORMAL, so a power loss may lose the last transactions).

const codeDBFile = "sandbox-code.db"

const codeDBParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// funcCodeManagement is the permission set every per-app code API needs:
// 开发管理与数据分析权限 (id 18).
const funcCodeManagement = 18

// Defaults of the limits a user may change with POST /sandbox/api/code-limits.
const (
	defaultAuditQuota    = 10000 // submit_audit per platform and month: generous, so fleet tests fit
	defaultSpeedupQuota  = 100   // speedupaudit per platform and month
	defaultTemplateLimit = 100   // templates per platform (85065)
	defaultPackageKB     = 2048  // 代码包 limit for commit (85044): WeChat's 2 MB main package
	defaultDraftKB       = 512   // a draft's size when the upload names none
	undoPerDay           = 5     // undocodeaudit per mini program (87013)
	undoPerMonth         = 10
	testerLimit          = 100 // 体验者 per mini program (85002); WeChat's number depends on the account
	defaultTesterApps    = 50  // mini programs one WeChat user may be a tester of (85003): WeChat gives no number
	historyLimit         = 5   // versions revertcoderelease can go back to
	codeEventLimit       = 20  // audit pushes remembered per app for the control API
)

// codeDraft is an upload from the developer tool in the 草稿箱.
type codeDraft struct {
	ID          int64     `json:"draft_id"`
	Component   string    `json:"component_appid"`
	UserVersion string    `json:"user_version"`
	UserDesc    string    `json:"user_desc"`
	Pages       []string  `json:"pages"`
	SizeKB      int       `json:"size_kb"`
	PrivacyKeys []string  `json:"privacy_keys,omitempty"`
	CreatedAt   time.Time `json:"create_time"`
}

// codeTemplate is a template in the 代码模板库.
type codeTemplate struct {
	ID        int64     `json:"template_id"`
	Type      int       `json:"template_type"` // 0 普通模板, 1 标准模板
	Draft     codeDraft `json:"draft"`
	CreatedAt time.Time `json:"create_time"`
}

// codeVersion is code committed to a mini program (its 体验版), as submitted
// and released.
type codeVersion struct {
	TemplateID  int64     `json:"template_id"`
	UserVersion string    `json:"user_version"`
	UserDesc    string    `json:"user_desc"`
	ExtJSON     string    `json:"ext_json"`
	Pages       []string  `json:"pages"`
	PrivacyKeys []string  `json:"privacy_keys,omitempty"`
	CommitTime  time.Time `json:"commit_time"`
}

// codeRelease is a version that is or was online.
type codeRelease struct {
	AppVersion int64       `json:"app_version"`
	Version    codeVersion `json:"version"`
	AuditID    int64       `json:"auditid,omitempty"`
	ReleasedAt time.Time   `json:"release_time"`
	Rollback   bool        `json:"rollback,omitempty"` // became online by revertcoderelease
}

// Audit states as WeChat numbers them.
const (
	auditApproved  = 0
	auditRejected  = 1
	auditPending   = 2
	auditWithdrawn = 3
	auditDelayed   = 4
)

// codeAudit is one submit_audit.
type codeAudit struct {
	ID          int64       `json:"auditid"`
	AppID       string      `json:"appid"`
	UserName    string      `json:"user_name"` // the app's gh_ id, ToUserName of its pushes
	Component   string      `json:"component_appid"`
	Version     codeVersion `json:"version"`
	VersionDesc string      `json:"version_desc,omitempty"`
	Status      int         `json:"status"`
	Reason      string      `json:"reason,omitempty"`
	ScreenShot  string      `json:"screenshot,omitempty"`
	SubmittedAt time.Time   `json:"submit_audit_time"`
	DueAt       time.Time   `json:"due_at,omitzero"` // next decision, while pending or delayed
	DecidedAt   time.Time   `json:"decided_at,omitzero"`
	DelayedAt   time.Time   `json:"delayed_at,omitzero"`
	SpedUp      bool        `json:"sped_up,omitempty"`
	Released    bool        `json:"released,omitempty"`
}

// open tells whether the audit is still under review (审核中 or 审核延后).
func (a *codeAudit) open() bool { return a.Status == auditPending || a.Status == auditDelayed }

// grayPlan is a gray release (分阶段发布).
type grayPlan struct {
	Status           int       `json:"status"` // 1 running, 3 finished, 4 deleted
	Percentage       int       `json:"gray_percentage"`
	CreatedAt        time.Time `json:"create_timestamp"`
	DebugerFirst     bool      `json:"support_debuger_first"`
	ExperiencerFirst bool      `json:"support_experiencer_first"`
	AuditID          int64     `json:"auditid"`
}

// codeCounts are the successful calls per app the control API reports (the
// rollout crash test checks one commit and one submit_audit per app).
type codeCounts struct {
	Commits      int `json:"commits"`
	Submits      int `json:"submits"`
	Releases     int `json:"releases"`
	GrayReleases int `json:"gray_releases"`
	Rollbacks    int `json:"rollbacks"`
	Undos        int `json:"undos"`
	Speedups     int `json:"speedups"`
}

// codeEvent is an audit result push, sent or lost.
type codeEvent struct {
	Event   string    `json:"event"`
	AuditID int64     `json:"auditid"`
	At      time.Time `json:"at"`
	Lost    bool      `json:"lost,omitempty"`
}

// appCode is the code-management state of one mini program.
type appCode struct {
	AppID          string                     `json:"appid"`
	Component      string                     `json:"component_appid"` // the platform that last committed
	Exp            *codeVersion               `json:"exp,omitempty"`
	LatestAudit    int64                      `json:"latest_audit,omitempty"`
	Audits         []int64                    `json:"audits,omitempty"`
	Online         *codeRelease               `json:"online,omitempty"`
	History        []codeRelease              `json:"history,omitempty"` // newest first
	NextAppVersion int64                      `json:"next_app_version"`
	Gray           *grayPlan                  `json:"gray,omitempty"`
	VisitClosed    bool                       `json:"visit_closed,omitempty"`
	Suspended      bool                       `json:"suspended,omitempty"` // WeChat refuses its submissions (86007)
	Domains        codeDomains                `json:"domains"`
	Webview        []string                   `json:"webview"`
	Testers        map[string]string          `json:"testers,omitempty"` // wechatid → userstr
	Privacy        map[string]*privacySetting `json:"privacy,omitempty"` // by privacy_ver
	Counts         codeCounts                 `json:"counts"`
	UndoDay        quotaUse                   `json:"undo_day"`
	UndoMonth      quotaUse                   `json:"undo_month"`
	Events         []codeEvent                `json:"events,omitempty"`
}

// codeMeta is the sandbox-wide part: ids, rules, limits, quota use.
type codeMeta struct {
	NextDraft    int64                  `json:"next_draft"`
	NextTemplate int64                  `json:"next_template"`
	NextAudit    int64                  `json:"next_audit"`
	Rules        auditRules             `json:"rules"`
	Limits       codeLimits             `json:"limits"`
	Quota        map[string]*auditQuota `json:"quota"` // by component appid
	// Platforms are each platform's registered domains, by component appid.
	Platforms map[string]*platformDomains `json:"platforms,omitempty"`
	// Users are the WeChat ids added with POST /sandbox/api/wechat-users.
	Users []string `json:"users,omitempty"`
}

// auditQuota counts one platform's submissions and speed-ups in a month.
type auditQuota struct {
	Month    string `json:"month"`
	Submits  int    `json:"submits"`
	Speedups int    `json:"speedups"`
}

// codeLimits are the limits a user may change.
type codeLimits struct {
	AuditQuota    int `json:"audit_quota"`
	SpeedupQuota  int `json:"speedup_quota"`
	TemplateLimit int `json:"template_limit"`
	PackageKB     int `json:"package_limit_kb"`
	TesterApps    int `json:"tester_apps_limit"`
}

// codeState is the code-management state and its database.
type codeState struct {
	s  *Sandbox
	db *sql.DB

	mu        sync.Mutex // guards everything below; never held with Sandbox.mu
	meta      codeMeta
	drafts    map[int64]*codeDraft
	templates map[int64]*codeTemplate
	apps      map[string]*appCode
	audits    map[int64]*codeAudit
	open      map[int64]*codeAudit // pending or delayed: the simulator's work list
	dirty     map[codeKey]bool

	pushMu   sync.Mutex
	pushQ    []pushJob
	inflight map[string]bool // apps with a push being sent
	pushed   chan struct{}   // wakes the push workers
}

// codeKey names one row of the code database.
type codeKey struct {
	kind string // "meta", "draft", "template", "app", "audit"
	id   string
}

// startCode opens the code database, loads it and starts the audit
// simulator and its push workers on the background context.
func (s *Sandbox) startCode() error {
	path := filepath.Join(s.cfg.DataDir, codeDBFile)
	db, err := sql.Open("sqlite", "file:"+path+"?"+codeDBParams)
	if err != nil {
		return fmt.Errorf("sandbox: opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	cs := &codeState{s: s, db: db, drafts: map[int64]*codeDraft{}, templates: map[int64]*codeTemplate{},
		apps: map[string]*appCode{}, audits: map[int64]*codeAudit{}, open: map[int64]*codeAudit{},
		dirty: map[codeKey]bool{}, inflight: map[string]bool{}, pushed: make(chan struct{}, 1)}
	cs.meta = codeMeta{NextDraft: 1, NextTemplate: 1, NextAudit: 400000001, Rules: defaultAuditRules(),
		Limits: codeLimits{defaultAuditQuota, defaultSpeedupQuota, defaultTemplateLimit, defaultPackageKB, defaultTesterApps},
		Quota:  map[string]*auditQuota{}}
	if err := cs.load(); err != nil {
		db.Close()
		return fmt.Errorf("sandbox: %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return err
	}
	s.code = cs
	s.goBackground(cs.simulate)
	for range codePushWorkers {
		s.goBackground(cs.pushWorker)
	}
	return nil
}

// closeCode closes the code database; the background goroutines have
// stopped by then (Close waits for them).
func (s *Sandbox) closeCode() error {
	if s.code == nil {
		return nil
	}
	return s.code.db.Close()
}

func (cs *codeState) load() error {
	if _, err := cs.db.Exec(`CREATE TABLE IF NOT EXISTS code_state (kind TEXT NOT NULL, id TEXT NOT NULL,
		data TEXT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID`); err != nil {
		return err
	}
	rows, err := cs.db.Query(`SELECT kind, id, data FROM code_state`)
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

func (cs *codeState) loadRow(kind string, data []byte) error {
	switch kind {
	case "meta":
		return json.Unmarshal(data, &cs.meta)
	case "draft":
		d := &codeDraft{}
		if err := json.Unmarshal(data, d); err != nil {
			return err
		}
		cs.drafts[d.ID] = d
	case "template":
		t := &codeTemplate{}
		if err := json.Unmarshal(data, t); err != nil {
			return err
		}
		cs.templates[t.ID] = t
	case "app":
		a := &appCode{}
		if err := json.Unmarshal(data, a); err != nil {
			return err
		}
		cs.apps[a.AppID] = a
	case "audit":
		a := &codeAudit{}
		if err := json.Unmarshal(data, a); err != nil {
			return err
		}
		cs.audits[a.ID] = a
		if a.open() {
			cs.open[a.ID] = a
		}
	default:
		return errors.New("unknown kind")
	}
	if cs.meta.Quota == nil {
		cs.meta.Quota = map[string]*auditQuota{}
	}
	return nil
}

// touch records changed rows; flush writes them. Callers hold cs.mu.
func (cs *codeState) touchMeta()          { cs.dirty[codeKey{"meta", "meta"}] = true }
func (cs *codeState) touchApp(a *appCode) { cs.dirty[codeKey{"app", a.AppID}] = true }
func (cs *codeState) touchAudit(a *codeAudit) {
	cs.dirty[codeKey{"audit", strconv.FormatInt(a.ID, 10)}] = true
}
func (cs *codeState) touchDraft(id int64) {
	cs.dirty[codeKey{"draft", strconv.FormatInt(id, 10)}] = true
}
func (cs *codeState) touchTemplate(id int64) {
	cs.dirty[codeKey{"template", strconv.FormatInt(id, 10)}] = true
}

// flush writes the changed rows in one transaction and reports -1 (WeChat's
// system error) when that failed. Callers hold cs.mu.
func (cs *codeState) flush() int {
	if len(cs.dirty) == 0 {
		return 0
	}
	err := cs.write()
	clear(cs.dirty)
	if err != nil {
		cs.s.log.Error("writing the code-management state", "err", err)
		return -1
	}
	return 0
}

func (cs *codeState) write() error {
	tx, err := cs.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	keys := make([]codeKey, 0, len(cs.dirty))
	for k := range cs.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b codeKey) int {
		if a.kind != b.kind {
			return compareStrings(a.kind, b.kind)
		}
		return compareStrings(a.id, b.id)
	})
	for _, k := range keys {
		v := cs.rowValue(k)
		if v == nil {
			if _, err := tx.Exec(`DELETE FROM code_state WHERE kind = $1 AND id = $2`, k.kind, k.id); err != nil {
				return err
			}
			continue
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO code_state (kind, id, data) VALUES ($1, $2, $3)
			ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data`, k.kind, k.id, string(data)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// rowValue is the current value of a row, nil when it is gone.
func (cs *codeState) rowValue(k codeKey) any {
	id, _ := strconv.ParseInt(k.id, 10, 64)
	switch k.kind {
	case "meta":
		return &cs.meta
	case "draft":
		if d := cs.drafts[id]; d != nil {
			return d
		}
	case "template":
		if t := cs.templates[id]; t != nil {
			return t
		}
	case "app":
		if a := cs.apps[k.id]; a != nil {
			return a
		}
	case "audit":
		if a := cs.audits[id]; a != nil {
			return a
		}
	}
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// app returns the code state of a mini program, creating it on first use.
// Callers hold cs.mu.
func (cs *codeState) app(appid string) *appCode {
	a := cs.apps[appid]
	if a == nil {
		a = &appCode{AppID: appid, NextAppVersion: 1, Domains: emptyDomains(), Webview: []string{}}
		cs.apps[appid] = a
	}
	return a
}

// quota returns a platform's audit quota for the month of now. Callers hold cs.mu.
func (cs *codeState) quota(component string, now time.Time) *auditQuota {
	month := quotaMonth(now)
	q := cs.meta.Quota[component]
	if q == nil || q.Month != month {
		q = &auditQuota{Month: month}
		cs.meta.Quota[component] = q
	}
	return q
}

// codeCaller is who calls a per-app code API: the mini program behind an
// authorizer_access_token and the platform it authorized.
type codeCaller struct {
	comp       *component
	appid      string
	userName   string // gh_ id: the ToUserName of its pushes
	categories []category
}

// codeAuthorizer resolves the authorizer_access_token of a per-app code
// API (its kind was checked before: tokens.go), then answers 61007 when the app did not grant 开发管理 (permission set 18) to the
// platform. Only ?access_token= counts, as WeChat documents.
func (s *Sandbox) codeAuthorizer(r *http.Request) (codeCaller, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, authz, code := s.authorizerByToken(r.URL.Query().Get("access_token"), s.now())
	if code != 0 {
		return codeCaller{}, code
	}
	if !slices.Contains(authz.FuncInfo, funcCodeManagement) {
		return codeCaller{}, 61007
	}
	out := codeCaller{comp: c, appid: authz.AppID}
	if a := s.st.account(authz.AppID); a != nil {
		out.userName, out.categories = a.UserName, slices.Clone(a.Categories)
	}
	return out, 0
}

// codeComponent resolves the component_access_token of a template-library
// API (?access_token=, or ?component_access_token= as the component APIs
// take it); its kind was checked before (tokens.go: 61014 for an
// authorizer's token).
func (s *Sandbox) codeComponent(r *http.Request) (*component, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, code := s.componentByToken(r)
	return c, code
}

// codeNow is the sandbox clock, for code-management times.
func (cs *codeState) now() time.Time { return cs.s.now() }

// unix renders a time as WeChat's unix seconds, 0 for none.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// flexID reads an id WeChat documents as a number that some SDKs send as a
// string (PowerWeChat: template_id): a JSON number or a numeric string.
// ok is false when it is absent, null or neither.
func flexID(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(s)
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	return v, err == nil
}

// ok is WeChat's success body without payload.
func ok() any { return wxError{Errcode: 0, Errmsg: "ok"} }

func itoa(n int) string { return strconv.Itoa(n) }

// codeErrmsg is WeChat's errmsg for the code-management errcodes (texts as
// WxJava's WxOpenErrorMsgEnum and WeChat's doc tables give them, in
// WeChat's English where it has one).
func codeErrmsg(code int) (string, bool) {
	m, ok := map[int]string{
		85001: "wechatid not exist or not searchable",
		85002: "too many testers",
		85003: "the user is a tester of too many mini programs",
		85004: "the user is already a tester",
		85006: "invalid tag",
		85007: "invalid page path",
		85008: "no approved category",
		85009: "a version is already under audit",
		85010: "item_list has an empty item",
		85011: "invalid title",
		85012: "invalid auditid",
		85013: "invalid ext config",
		85014: "invalid template id",
		85016: "too many domains",
		85019: "no audit version",
		85020: "audit status does not allow release",
		85021: "status not allowed",
		85022: "invalid action",
		85023: "item_list count must be between 1 and 5",
		85044: "code package exceeds size limit",
		85045: "ext_json has a path that does not exist",
		85046: "tabBar item has no path",
		85047: "pages is empty",
		85048: "ext_json parse failed",
		85052: "app is already released",
		85064: "template not found",
		85065: "template library is full",
		85079: "no online version, cannot gray release",
		85080: "audit not approved",
		85081: "invalid gray percentage",
		85082: "gray percentage must be higher than the current one",
		85085: "reach submit audit quota limit this month",
		85086: "commit code before submit audit",
		86001: "no code committed by the component",
		87011: "in gray release, cannot roll back",
		87012: "this version cannot be rolled back",
		87013: "reach undo code audit limit (5 a day, 10 a month)",
		89019: "webview domain unchanged",
		89022: "webview domain to delete does not exist",
		89029: "too many webview domains",
	}[code]
	return m, ok
}
