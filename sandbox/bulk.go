package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The bulk path makes a fleet: POST /sandbox/api/apps/bulk creates N mini
// programs at once and, with "authorize", authorizes them all to a component
// the way N admins confirming N links would: each gets a grant, tokens and an
// authorization code, and the encrypted authorized push goes to the
// component's authorization event URL, so the platform completes each one
// with api_query_auth as it would in production.

var errClosing = errors.New("沙箱正在关闭 / the sandbox is closing")

// bulkLimit is the most mini programs one bulk call creates.
const bulkLimit = 100_000

// bulkPushes is how many authorized pushes are in flight at once: enough to
// keep a platform busy, few enough not to look like a flood.
const bulkPushes = 32

// bulkChunk is how many authorizations are made per hold of s.mu, so that API
// calls interleave with a large bulk call.
const bulkChunk = 1000

type bulkRequest struct {
	Count          int    `json:"count"`
	Authorize      bool   `json:"authorize"`
	ComponentAppID string `json:"component_appid"`
	FuncInfo       []int  `json:"func_info"`
}

type bulkResult struct {
	AppIDs       []string `json:"appids"`
	Created      int      `json:"created"`
	Authorized   int      `json:"authorized"`    // grants whose push the platform acknowledged
	PushFailures int      `json:"push_failures"` // grants whose push was never acknowledged (still authorized on WeChat's side)
	CreateMillis int64    `json:"create_ms"`
	AuthMillis   int64    `json:"authorize_ms,omitempty"`
}

// POST /sandbox/api/apps/bulk {"count": N, "authorize": bool, "component_appid"?, "func_info"?}
func (s *Sandbox) handleBulk(w http.ResponseWriter, r *http.Request) {
	var req bulkRequest
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	c, funcs, err := s.checkBulk(req)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	// The work belongs to the sandbox, not to the caller's connection (WeChat
	// pushes whether or not anyone watches); Close waits for it.
	type outcome struct {
		res bulkResult
		err error
	}
	done := make(chan outcome, 1)
	s.goBackground(func(ctx context.Context) {
		res, err := s.bulk(ctx, c, req.Count, req.Authorize, funcs)
		done <- outcome{res, err}
	})
	var out outcome
	select {
	case out = <-done:
	case <-s.bg.Done():
		out.err = errClosing
	}
	res, err := out.res, out.err
	if err != nil {
		writeControlError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Sandbox) checkBulk(req bulkRequest) (*component, []int, error) {
	if req.Count <= 0 || req.Count > bulkLimit {
		return nil, nil, fmt.Errorf("count 须在 1 到 %d 之间 / count must be from 1 to %d, got %d", bulkLimit, bulkLimit, req.Count)
	}
	c, err := s.componentFor(req.ComponentAppID)
	if err != nil {
		return nil, nil, err
	}
	offered := funcIDs(funcSetsFor(true))
	funcs := req.FuncInfo
	if funcs == nil {
		funcs = offered
	}
	if len(funcs) == 0 {
		return nil, nil, errors.New("func_info 不能为空 / func_info, when given, must name at least one permission set")
	}
	for _, id := range funcs {
		if !slices.Contains(offered, id) {
			return nil, nil, fmt.Errorf("权限集 %d 不适用于小程序 / permission set %d is not offered to mini programs (offered: %v)", id, id, offered)
		}
	}
	return c, funcs, nil
}

// bulk creates n mini programs and, if asked, authorizes them to c.
func (s *Sandbox) bulk(ctx context.Context, c *component, n int, authorize bool, funcs []int) (bulkResult, error) {
	start := time.Now()
	appids := s.createBulk(n)
	s.waitDurable(ctx)
	res := bulkResult{AppIDs: appids, Created: n, CreateMillis: time.Since(start).Milliseconds()}
	s.log.Info("bulk accounts created", "count", n, "ms", res.CreateMillis)
	if !authorize {
		return res, nil
	}
	start = time.Now()
	failures, err := s.authorizeBulk(ctx, c, appids, funcs)
	if err != nil {
		return bulkResult{}, err
	}
	res.Authorized, res.PushFailures = n-failures, failures
	res.AuthMillis = time.Since(start).Milliseconds()
	s.log.Info("bulk authorization pushed", "component_appid", c.AppID, "count", n,
		"push_failures", failures, "ms", res.AuthMillis)
	return res, nil
}

// createBulk makes n mini programs with fresh appids, recorded for one write.
func (s *Sandbox) createBulk(n int) []string {
	appids := make([]string, 0, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(appids) < n {
		appid := "wx" + randomHex(8)
		if s.st.exists(appid) {
			continue
		}
		s.st.addAccount(&account{AppID: appid, Bulk: true})
		s.touch(ref{kind: kAccount, a: appid})
		appids = append(appids, appid)
	}
	s.touch(ref{kind: kMeta})
	return appids
}

// bulkGrant is an authorization made by the bulk path, waiting for its push.
type bulkGrant struct {
	appid, infoType, code, pre string
}

// authorizeBulk authorizes every appid to c, then pushes each grant with at
// most bulkPushes in flight (each push retried as WeChat retries). It returns
// how many pushes the platform never acknowledged.
func (s *Sandbox) authorizeBulk(ctx context.Context, c *component, appids []string, funcs []int) (int, error) {
	grants := make(chan bulkGrant, bulkPushes)
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range bulkPushes {
		wg.Go(func() {
			for g := range grants {
				job := s.authEvent(c, g.infoType, g.appid, g.code, g.pre)
				job.quiet = true
				if res := s.push(ctx, job); !res.OK {
					failures.Add(1)
				}
			}
		})
	}
	var err error
	for chunk := range slices.Chunk(appids, bulkChunk) {
		if err = ctx.Err(); err != nil {
			break // the sandbox is closing
		}
		batch := make([]bulkGrant, 0, len(chunk))
		s.mu.Lock()
		for _, appid := range chunk {
			// Each grant stands for an admin who confirmed a link of its own;
			// no page will ever show these pre_auth_codes, so none is kept.
			pre := "preauthcode@@@" + randomToken(48)
			infoType, code := s.authorizeLocked(c, appid, funcs)
			batch = append(batch, bulkGrant{appid, infoType, code, pre})
		}
		s.mu.Unlock()
		// Codes reach the platform only once they are stored.
		s.waitDurable(ctx)
		for _, g := range batch {
			grants <- g
		}
	}
	close(grants)
	wg.Wait()
	if err != nil {
		return 0, errClosing
	}
	return int(failures.Load()), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// bulkKind is a kind of business the bulk path names its mini programs after.
type bulkKind struct {
	name, signature, color string
	categories             []category
}

// bulkKinds returns the businesses bulk mini programs are drawn from. A
// function, not a package variable, so nothing can mutate the table; the
// slices it returns are shared by every account of that kind.
func bulkKinds() []bulkKind {
	return []bulkKind{
		{"烘焙", "每日现烤，欧包与生日蛋糕，同城配送。", "#d9822b", []category{{"餐饮", "烘焙甜品"}}},
		{"咖啡", "手冲与意式，线上点单到店自取。", "#6d4c41", []category{{"餐饮", "咖啡"}}},
		{"火锅", "鲜切牛肉，线上排队与预订。", "#c0392b", []category{{"餐饮", "火锅"}}},
		{"鲜花", "当季鲜花，节日花束与每周订花。", "#c2185b", []category{{"商家自营", "鲜花园艺"}}},
		{"书店", "新书、旧书与每周读书会。", "#2e7d5b", []category{{"商家自营", "图书报刊"}}},
		{"健身", "私教、团课与体测预约。", "#e4572e", []category{{"体育", "健身"}}},
		{"茶饮", "鲜果茶与原叶茶，扫码点单。", "#5b8c3a", []category{{"餐饮", "茶饮"}}},
		{"面馆", "一碗好面，扫码点单不排队。", "#b8860b", []category{{"餐饮", "快餐"}}},
		{"洗衣", "上门取送，洗护到家。", "#1565c0", []category{{"生活服务", "洗浴保洁"}}},
		{"宠物", "洗护、寄养与宠物用品。", "#8e24aa", []category{{"生活服务", "宠物"}}},
	}
}

// bulkAccount derives the bulk mini program with appid and sequence number n:
// a plausible shop in a plausible city, with its appid's digits in its name
// so that names differ. Only appid and n are stored.
func bulkAccount(appid string, n int64) *account {
	cities := [...]string{"杭州", "上海", "成都", "南京", "深圳", "苏州", "武汉", "西安", "长沙", "厦门", "青岛", "重庆"}
	brands := [...]string{"禾木", "小满", "山野", "拾光", "巷口", "云朵", "初心", "南风", "半亩", "知味", "晴川", "木子"}
	kinds := bulkKinds()
	kind := kinds[n%int64(len(kinds))]
	city, brand := cities[(n/7)%int64(len(cities))], brands[(n/3)%int64(len(brands))]
	tag := appid[len(appid)-4:]
	return &account{
		AppID: appid, UserName: "gh_" + appid[2:14], Nickname: city + brand + kind.name + "·" + tag,
		Alias: "", Signature: kind.signature, PrincipalName: city + brand + kind.name + "有限公司",
		MiniProgram: true, Categories: kind.categories, Color: kind.color, Bulk: true, Seq: n,
	}
}
