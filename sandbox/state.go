package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// stateFile is the name of the sandbox's state file inside Config.DataDir.
const stateFile = "sandbox.json"

// Lifetimes on the sandbox clock, as WeChat documents them.
const (
	ticketTTL      = 12 * time.Hour     // component_verify_ticket
	tokenTTL       = 7200 * time.Second // component_access_token and authorizer_access_token
	supersedeGrace = 5 * time.Minute    // a replaced token keeps working this long
	preAuthTTL     = 600 * time.Second  // pre_auth_code: expires_in says 600, we enforce 600
	authCodeTTL    = 3600 * time.Second // authorization code (auth_code)
	userWindow     = 48 * time.Hour     // customer-service reply window after the user's last message
	forgetAfter    = 48 * time.Hour     // issued values older than this are dropped from the state
)

// state is everything the sandbox remembers across restarts. It is guarded by
// Sandbox.mu and written to sandbox.json as one JSON document.
type state struct {
	Version     int                        `json:"version"`
	ClockOffset time.Duration              `json:"clock_offset"` // sandbox clock = wall clock + offset
	NextMsgID   int64                      `json:"next_msg_id"`
	Accounts    []*account                 `json:"accounts"`
	Components  map[string]*componentState `json:"components"` // by component appid
	Users       map[string]*appUsers       `json:"users"`      // by authorizer appid
	Outbox      []outboxEntry              `json:"outbox"`
	Quota       quotaState                 `json:"quota"`
}

// issued is a ticket or code with its issue time on the sandbox clock.
type issued struct {
	Value    string    `json:"value"`
	IssuedAt time.Time `json:"issued_at"`
}

// credential is an access token. Issuing a newer one supersedes it; it then
// keeps working for supersedeGrace, as WeChat does.
type credential struct {
	Value        string    `json:"value"`
	IssuedAt     time.Time `json:"issued_at"`
	SupersededAt time.Time `json:"superseded_at,omitzero"`
}

// authCode is an authorization code (auth_code / AuthorizationCode), exchanged
// by api_query_auth. It is not single-use: it works until it expires.
type authCode struct {
	Value       string    `json:"value"`
	AppID       string    `json:"appid"`
	PreAuthCode string    `json:"pre_auth_code,omitempty"`
	IssuedAt    time.Time `json:"issued_at"`
}

// componentState is what WeChat keeps per third-party platform.
type componentState struct {
	Tickets        []issued                  `json:"tickets"`
	Tokens         []credential              `json:"tokens"`
	PreAuthCodes   []issued                  `json:"pre_auth_codes"`
	AuthCodes      []authCode                `json:"auth_codes"`
	Authorizations map[string]*authorization `json:"authorizations"`         // by authorizer appid
	IPWhitelist    []string                  `json:"ip_whitelist,omitempty"` // addresses or CIDR ranges; empty: any
}

// authorization is one authorizer's grant to one component (授权关系).
type authorization struct {
	AppID        string       `json:"appid"`
	Authorized   bool         `json:"authorized"`
	FuncInfo     []int        `json:"func_info"`
	AuthorizedAt time.Time    `json:"authorized_at,omitzero"`
	RevokedAt    time.Time    `json:"revoked_at,omitzero"`
	RefreshToken string       `json:"refresh_token,omitempty"` // the only valid one; rotated on every refresh
	AccessTokens []credential `json:"access_tokens"`
}

// appUsers are the WeChat users (openids) who talked to one authorizer.
type appUsers struct {
	Default string               `json:"default"`   // the openid used when a caller names none
	Seen    map[string]time.Time `json:"last_seen"` // openid → last message or session entry, sandbox clock
}

// outboxEntry is a customer-service message the platform sent through
// message/custom/send.
type outboxEntry struct {
	ComponentAppID string          `json:"component_appid"`
	AppID          string          `json:"appid"`
	ToUser         string          `json:"touser"`
	MsgType        string          `json:"msgtype"`
	Content        string          `json:"content"`
	Body           json.RawMessage `json:"body"`
	At             time.Time       `json:"at"`
}

// outboxLimit bounds the outbox kept in the state file.
const outboxLimit = 1000

func newState() *state {
	return &state{
		Version:    1,
		NextMsgID:  7300000000000000000 + randomInt(1_000_000_000_000),
		Accounts:   seedAccounts(),
		Components: map[string]*componentState{},
		Users:      map[string]*appUsers{},
	}
}

// loadState reads the state file; a missing file yields a freshly seeded
// state and fresh=true.
func loadState(path string, key []byte) (st *state, fresh bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if data, err = openState(key, data); err != nil {
		return nil, false, err
	}
	st = &state{}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, false, fmt.Errorf("sandbox: %s is not valid state: %w", path, err)
	}
	if st.Components == nil {
		st.Components = map[string]*componentState{}
	}
	if st.Users == nil {
		st.Users = map[string]*appUsers{}
	}
	// Accounts added to the seed after this file was written appear too;
	// existing ones keep whatever the file says.
	for _, a := range seedAccounts() {
		if st.account(a.AppID) == nil {
			st.Accounts = append(st.Accounts, a)
		}
	}
	return st, false, nil
}

// ensureComponent returns the state of a component, creating it on first use
// (a component added to the configuration after the state file was written).
func (st *state) ensureComponent(appid string) *componentState {
	cs := st.Components[appid]
	if cs == nil {
		cs = &componentState{}
		st.Components[appid] = cs
	}
	if cs.Authorizations == nil {
		cs.Authorizations = map[string]*authorization{}
	}
	return cs
}

func (st *state) account(appid string) *account {
	for _, a := range st.Accounts {
		if a.AppID == appid {
			return a
		}
	}
	return nil
}

// users returns the user book of an authorizer, creating it on first use.
func (st *state) users(appid string) *appUsers {
	u := st.Users[appid]
	if u == nil {
		u = &appUsers{Seen: map[string]time.Time{}}
		st.Users[appid] = u
	}
	if u.Seen == nil {
		u.Seen = map[string]time.Time{}
	}
	return u
}

// writeFileAtomic writes data so that a crash leaves either the old or the new
// file, never a torn one: temp file, fsync, rename, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".sandbox-*.json.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: not every file system supports syncing a directory
		d.Close()
	}
	return nil
}

// prune keeps the state file small: WeChat forgets old tickets and codes too.
// Entries older than forgetAfter on the sandbox clock are dropped, and at most
// limit remain, newest last.
func prune[T any](list []T, issuedAt func(T) time.Time, now time.Time, limit int) []T {
	list = slices.DeleteFunc(list, func(v T) bool { return now.Sub(issuedAt(v)) > forgetAfter })
	if len(list) > limit {
		list = slices.Delete(list, 0, len(list)-limit)
	}
	return list
}

func pruneIssued(list []issued, now time.Time, limit int) []issued {
	return prune(list, func(v issued) time.Time { return v.IssuedAt }, now, limit)
}

func pruneCredentials(list []credential, now time.Time, limit int) []credential {
	return prune(list, func(v credential) time.Time { return v.IssuedAt }, now, limit)
}

func pruneAuthCodes(list []authCode, now time.Time, limit int) []authCode {
	return prune(list, func(v authCode) time.Time { return v.IssuedAt }, now, limit)
}

// credentialError tells whether a token can be used at now: 0 if so, 40001
// when it was superseded more than supersedeGrace ago, 42001 when it expired.
func credentialError(c credential, now time.Time) int {
	if !c.SupersededAt.IsZero() && !now.Before(c.SupersededAt.Add(supersedeGrace)) {
		return 40001
	}
	if !now.Before(c.IssuedAt.Add(tokenTTL)) {
		return 42001
	}
	return 0
}

// issueCredential appends a new token and supersedes the ones before it.
func issueCredential(list []credential, value string, now time.Time) []credential {
	for i := range list {
		if list[i].SupersededAt.IsZero() {
			list[i].SupersededAt = now
		}
	}
	return append(pruneCredentials(list, now, 50), credential{Value: value, IssuedAt: now})
}

// randomToken returns n random bytes as unpadded base64url: the alphabet
// WeChat's tokens and codes use, safe in query strings without escaping.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomDigits returns n random decimal digits, like WeChat's push nonces.
func randomDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// randomInt returns a uniform random integer in [0, n).
func randomInt(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return v.Int64()
}

// newOpenID returns an openid shaped like WeChat's: 28 characters starting with "o".
func newOpenID() string {
	return "o" + randomToken(21)[:27]
}
