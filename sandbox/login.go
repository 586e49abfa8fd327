package sandbox

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"
)

// Mini-program login on behalf of a merchant (代小程序登录, docs/wechat-runtime.md):
// inside a mini program wx.login() hands the page a code (js_code) that
// lives five minutes and can be exchanged once; the platform trades it for
// the user's openid and session_key with /sns/component/jscode2session and
// its component_access_token. The sandbox plays the phone's side through
// POST /sandbox/api/apps/{appid}/login-code and WeChat's through the API.

const (
	pathJSCode2Session = "/sns/component/jscode2session"
	loginCodeTTL       = 5 * time.Minute // a js_code, on the sandbox clock
	loginCodeLimit     = 1_000_000       // codes remembered at most, far above 48 h of a busy fleet
)

// loginCode is what WeChat remembers of a code wx.login returned.
type loginCode struct {
	AppID      string `json:"appid"`
	OpenID     string `json:"openid"`
	UnionID    string `json:"unionid,omitempty"`
	SessionKey string `json:"session_key"` // base64 of 16 random bytes, sealed at rest like every row
	IssuedAt   int64  `json:"issued_at"`   // unix nanoseconds, sandbox clock
	UsedAt     int64  `json:"used_at,omitempty"`
}

func (c *loginCode) issuedAt() time.Time { return time.Unix(0, c.IssuedAt).UTC() }

// loginBook holds the issued codes by digest, in issue order for pruning.
type loginBook struct {
	byID  map[codeID]*loginCode
	order []codeID
}

func (b *loginBook) get(value string) *loginCode { return b.byID[codeIDOf(value)] }

func (b *loginBook) put(id codeID, c *loginCode) {
	if b.byID == nil {
		b.byID = map[codeID]*loginCode{}
	}
	if _, ok := b.byID[id]; !ok {
		b.order = append(b.order, id)
	}
	b.byID[id] = c
}

// prune drops codes issued more than forgetAfter before now and the oldest
// beyond loginCodeLimit, telling gone each one so that the row is deleted.
func (b *loginBook) prune(now time.Time, gone func(codeID)) {
	n := 0
	for ; n < len(b.order); n++ {
		c := b.byID[b.order[n]]
		if c != nil && now.Sub(c.issuedAt()) <= forgetAfter && len(b.byID) <= loginCodeLimit {
			break
		}
		if c != nil {
			delete(b.byID, b.order[n])
			gone(b.order[n])
		}
	}
	b.order = slices.Delete(b.order, 0, n)
}

// sortByIssue rebuilds the issue order after loading.
func (b *loginBook) sortByIssue() {
	b.order = b.order[:0]
	for id := range b.byID {
		b.order = append(b.order, id)
	}
	slices.SortFunc(b.order, func(x, y codeID) int { return cmp.Compare(b.byID[x].IssuedAt, b.byID[y].IssuedAt) })
}

func loginRef(id codeID) ref { return ref{kind: kLoginCode, a: id.String()} }

// POST /sandbox/api/apps/{appid}/login-code {"openid"?,"unionid"?} →
// {"code","openid","session_key","expires_in"}: what wx.login returns
// inside that mini program (the code; the rest is for tests, as the control
// API shows refresh tokens too). The same openid is the same user; none
// given is a new user.
func (s *Sandbox) handleLoginCode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID  string `json:"openid"`
		UnionID string `json:"unionid"`
	}
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	appid := r.PathValue("appid")
	a := s.account(appid)
	switch {
	case a == nil:
		writeControlError(w, http.StatusNotFound, fmt.Errorf("没有这个小程序 / unknown appid %q", appid))
		return
	case !a.MiniProgram:
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("%s 是公众号，wx.login 只在小程序中 / %s is an official account: wx.login runs in mini programs only", appid, appid))
		return
	case !validUserID(req.OpenID) || !validUserID(req.UnionID):
		writeControlError(w, http.StatusBadRequest, errors.New("openid / unionid 须为不超过 64 个字符的可打印 ASCII / openid and unionid are printable ASCII, at most 64 characters"))
		return
	}
	if req.OpenID == "" {
		req.OpenID = newOpenID()
	}
	value := randomToken(24) // 32 characters, like WeChat's js_code
	now := s.now()
	s.mu.Lock()
	s.st.LoginCodes.prune(now, func(id codeID) { s.touch(loginRef(id)) })
	id := codeIDOf(value)
	key := randomSessionKey()
	s.st.LoginCodes.put(id, &loginCode{AppID: appid, OpenID: req.OpenID, UnionID: req.UnionID,
		SessionKey: key, IssuedAt: now.UnixNano()})
	s.touch(loginRef(id))
	gen := s.dirtyGen.Load()
	s.mu.Unlock()
	s.waitFlushed(r.Context(), gen) // the code exists once the mini program has it
	writeJSON(w, http.StatusOK, struct {
		Code       string `json:"code"`
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"` // what jscode2session will answer: lets a test look for it where it must not be
		ExpiresIn  int    `json:"expires_in"`
	}{value, req.OpenID, key, seconds(loginCodeTTL)})
}

// validUserID accepts "" or printable ASCII up to 64 bytes.
func validUserID(v string) bool {
	if len(v) > 64 || !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}

// randomSessionKey is a session_key: 16 random bytes, standard base64 (24
// characters with padding), as WeChat's are.
func randomSessionKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// GET /sns/component/jscode2session?appid=&js_code=&grant_type=authorization_code&component_appid=&component_access_token=
//
// The token was checked by the wrapper (tokens.go): it is a live component
// token. Then, in this order: component_appid (41018 missing, 61011 not the
// token's), appid (41002 missing, 40013 unknown, 61003 not authorized to
// this component), grant_type (40002 missing or not authorization_code),
// js_code (41008 missing; 40029 unknown, of another app or older than five
// minutes; 40163 used already).
func (s *Sandbox) apiJSCode2Session(r *http.Request, _ []byte) (any, int) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, cs, code := s.componentByToken(r)
	if code != 0 {
		return nil, code
	}
	appid, jsCode := q.Get("appid"), q.Get("js_code")
	switch comp := q.Get("component_appid"); {
	case comp == "":
		return nil, 41018
	case comp != c.AppID:
		return nil, 61011
	case appid == "":
		return nil, 41002
	case !s.st.exists(appid):
		return nil, 40013
	}
	if authz := cs.Authorizations[appid]; authz == nil || !authz.Authorized {
		return nil, 61003
	}
	switch {
	case q.Get("grant_type") != "authorization_code":
		return nil, 40002
	case jsCode == "":
		return nil, 41008
	}
	lc := s.st.LoginCodes.get(jsCode)
	now := s.now()
	switch {
	case lc == nil || lc.AppID != appid:
		return nil, 40029
	case !now.Before(lc.issuedAt().Add(loginCodeTTL)):
		return nil, 40029 // WeChat forgets a code after five minutes: "invalid code"
	case lc.UsedAt != 0:
		return nil, 40163
	}
	lc.UsedAt = now.UnixNano()
	s.touch(loginRef(codeIDOf(jsCode)))
	return struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
		UnionID    string `json:"unionid,omitempty"` // absent, not empty, without an Open Platform binding
	}{lc.OpenID, lc.SessionKey, lc.UnionID}, 0
}
