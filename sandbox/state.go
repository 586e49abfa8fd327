package sandbox

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Lifetimes on the sandbox clock, as WeChat documents them.
const (
	ticketTTL      = 12 * time.Hour     // component_verify_ticket
	tokenTTL       = 7200 * time.Second // component_access_token and authorizer_access_token
	supersedeGrace = 5 * time.Minute    // a replaced token keeps working this long
	preAuthTTL     = 600 * time.Second  // pre_auth_code: expires_in says 600, we enforce 600
	authCodeTTL    = 3600 * time.Second // authorization code (auth_code)
	userWindow     = 48 * time.Hour     // customer-service reply window after the user's last message
	entryWindow    = time.Minute        // the window of a user's entry into the customer-service session
	forgetAfter    = 48 * time.Hour     // issued values older than this are dropped from the state
)

// state is everything the sandbox remembers across restarts, guarded by
// Sandbox.mu. It lives in memory, indexed for the lookups the APIs make, and
// every change is written to the state database row by row (persist.go).
type state struct {
	ClockOffset time.Duration // sandbox clock = wall clock + offset
	NextMsgID   int64
	nextSeq     int64 // orders accounts and outbox entries

	accounts   map[string]*account // by appid, but for the bulk ones
	bulk       map[string]int64    // accounts made in bulk: appid → Seq; the rest is derived (bulkAccount)
	order      []string            // every appid in creation order, for listings
	Components map[string]*componentState
	Users      map[string]*appUsers // by authorizer appid
	Outbox     []outboxEntry        // oldest first
	Quota      quotaState
	LoginCodes loginBook // codes wx.login returned (login.go)

	// tokens indexes every live authorizer_access_token: the authorizer-token
	// APIs resolve a token without scanning the fleet.
	tokens map[codeID]*authorization

	// funcSets interns the permission-set lists of authorizations: a fleet
	// shares a handful of them.
	funcSets map[string][]int
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

// componentState is what WeChat keeps per third-party platform. The lists are
// short (pruned); codes and authorizations are indexed by value and appid.
type componentState struct {
	Tickets        []issued                  `json:"tickets"`
	Tokens         []credential              `json:"tokens"`
	IPWhitelist    []string                  `json:"ip_whitelist,omitempty"` // addresses or CIDR ranges; empty: any
	PreAuthCodes   codeBook                  `json:"-"`
	AuthCodes      codeBook                  `json:"-"` // 授权码; not single-use: it works until it expires
	Authorizations map[string]*authorization `json:"-"` // by authorizer appid

	// listed caches the authorized ones in api_get_authorizer_list's order
	// (authorization time, appid); nil after any grant or revocation.
	listed []*authorization
}

// authorizedList returns the authorized authorizations in listing order.
func (cs *componentState) authorizedList() []*authorization {
	if cs.listed != nil {
		return cs.listed
	}
	list := make([]*authorization, 0, len(cs.Authorizations))
	for _, authz := range cs.Authorizations {
		if authz.Authorized {
			list = append(list, authz)
		}
	}
	slices.SortFunc(list, func(a, b *authorization) int {
		return cmp.Or(cmp.Compare(a.AuthorizedAt.Unix(), b.AuthorizedAt.Unix()), cmp.Compare(a.AppID, b.AppID))
	})
	cs.listed = list
	return list
}

// authorization is one authorizer's grant to one component (授权关系).
type authorization struct {
	AppID        string            `json:"appid"`
	Authorized   bool              `json:"authorized"`
	FuncInfo     []int             `json:"func_info"`
	AuthorizedAt time.Time         `json:"authorized_at,omitzero"`
	RevokedAt    time.Time         `json:"revoked_at,omitzero"`
	RefreshToken string            `json:"refresh_token,omitempty"` // the only valid one; rotated on every refresh
	AccessTokens []credential      `json:"access_tokens"`
	Options      map[string]string `json:"options,omitempty"` // authorizer options (options.go); absent ones are "0"
	component    string            // component appid; not stored, the row's key says it
}

// appUsers are the WeChat users (openids) who talked to one authorizer.
type appUsers struct {
	Default string               `json:"default"`   // the openid used when a caller names none
	Seen    map[string]time.Time `json:"last_seen"` // openid → last message or session entry, sandbox clock
	// Sent counts the customer-service messages each user got since their
	// last message: WeChat allows customerServiceLimit (45047 after).
	Sent map[string]int `json:"sent,omitempty"`
	// Wrote is each user's last message, Entered their last entry into the
	// customer-service session (user_enter_tempsession), EntrySent what was
	// sent on the entry's own allowance (entryServiceLimit in entryWindow).
	// A state without Wrote or Entered for a user (written before the two
	// were told apart) counts Seen as a message.
	Wrote     map[string]time.Time `json:"wrote,omitempty"`
	Entered   map[string]time.Time `json:"entered,omitempty"`
	EntrySent map[string]int       `json:"entry_sent,omitempty"`
}

// outboxEntry is a customer-service message the platform sent through
// message/custom/send.
type outboxEntry struct {
	Seq            int64           `json:"seq"`
	ComponentAppID string          `json:"component_appid"`
	AppID          string          `json:"appid"`
	ToUser         string          `json:"touser"`
	MsgType        string          `json:"msgtype"`
	Content        string          `json:"content"`
	Body           json.RawMessage `json:"body"`
	At             time.Time       `json:"at"`
}

// outboxLimit bounds the outbox kept in the state.
const outboxLimit = 1000

// codeLimit bounds the pre-authorization and authorization codes a component
// keeps, far above what 48 hours of a 100,000-app fleet issue.
const codeLimit = 1_000_000

func newState() *state {
	return &state{
		NextMsgID:  7300000000000000000 + randomInt(1_000_000_000_000),
		accounts:   map[string]*account{},
		bulk:       map[string]int64{},
		Components: map[string]*componentState{},
		Users:      map[string]*appUsers{},
		tokens:     map[codeID]*authorization{},
		funcSets:   map[string][]int{},
	}
}

// addAccount adds an account at the end of the listing order. Callers hold
// Sandbox.mu and record the change.
func (st *state) addAccount(a *account) {
	st.nextSeq++
	a.Seq = st.nextSeq
	if a.Bulk {
		st.bulk[a.AppID] = a.Seq
	} else {
		st.accounts[a.AppID] = a
	}
	st.order = append(st.order, a.AppID)
}

// ensureComponent returns the state of a component, creating it on first use
// (a component added to the configuration after the state was written).
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

// account returns the account with appid, nil if there is none. Accounts
// never change once made; one made in bulk is derived afresh on each call.
func (st *state) account(appid string) *account {
	if a := st.accounts[appid]; a != nil {
		return a
	}
	if seq, ok := st.bulk[appid]; ok {
		return bulkAccount(appid, seq)
	}
	return nil
}

func (st *state) exists(appid string) bool {
	_, bulk := st.bulk[appid]
	return bulk || st.accounts[appid] != nil
}

// internFuncs returns the shared copy of a sorted permission-set list.
func (st *state) internFuncs(ids []int) []int {
	key := fmt.Sprint(ids)
	if v, ok := st.funcSets[key]; ok {
		return v
	}
	v := slices.Clip(slices.Clone(ids))
	st.funcSets[key] = v
	return v
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

// codeID names a code by a digest of its value. Memory and the database
// keep only the digest: a code is looked up by the value the platform
// presents, so neither needs to hold the value itself.
type codeID [16]byte

func codeIDOf(value string) codeID {
	sum := sha256.Sum256([]byte(value))
	return codeID(sum[:16])
}

func (id codeID) String() string { return hex.EncodeToString(id[:]) }

// code is what WeChat remembers of an issued pre_auth_code or authorization
// code.
type code struct {
	// AppID is, for an authorization code, the authorizer it was issued for;
	// for a pre_auth_code, the account that used it ("" while unused).
	AppID    string `json:"appid,omitempty"`
	IssuedAt int64  `json:"issued_at"` // unix nanoseconds, sandbox clock
}

func (c code) issuedAt() time.Time { return time.Unix(0, c.IssuedAt).UTC() }

// codeBook holds issued codes by digest, with their issue order so that
// pruning drops the oldest without scanning the rest.
type codeBook struct {
	byID  map[codeID]code
	order []codeID // issue order; may name codes already dropped
}

func (b *codeBook) get(value string) (code, bool) {
	c, ok := b.byID[codeIDOf(value)]
	return c, ok
}

func (b *codeBook) put(id codeID, c code) {
	if b.byID == nil {
		b.byID = map[codeID]code{}
	}
	if _, ok := b.byID[id]; !ok {
		b.order = append(b.order, id)
	}
	b.byID[id] = c
}

// prune drops codes issued more than forgetAfter before now, and the oldest
// beyond limit, calling gone for each so that the change is recorded. WeChat
// forgets old codes too.
func (b *codeBook) prune(now time.Time, limit int, gone func(codeID)) {
	n := 0
	for ; n < len(b.order); n++ {
		c, ok := b.byID[b.order[n]]
		if ok && now.Sub(c.issuedAt()) <= forgetAfter && len(b.byID) <= limit {
			break
		}
		if ok {
			delete(b.byID, b.order[n])
			gone(b.order[n])
		}
	}
	if n > 0 {
		b.order = slices.Delete(b.order, 0, n)
	}
}

// sortByIssue rebuilds the issue order after loading.
func (b *codeBook) sortByIssue() {
	b.order = b.order[:0]
	for id := range b.byID {
		b.order = append(b.order, id)
	}
	slices.SortFunc(b.order, func(x, y codeID) int { return cmp.Compare(b.byID[x].IssuedAt, b.byID[y].IssuedAt) })
}

// prune keeps lists small: WeChat forgets old tickets and codes too. Entries
// older than forgetAfter on the sandbox clock are dropped, and at most limit
// remain, newest last.
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

// issueCredential appends a new token and supersedes the ones before it. A
// token superseded more than supersedeGrace ago is dropped (dropped is told
// its value): WeChat answers it 40001 exactly as it answers a token it never
// issued, so keeping it would only cost memory at fleet scale.
func issueCredential(list []credential, value string, now time.Time, dropped func(string)) []credential {
	for i := range list {
		if list[i].SupersededAt.IsZero() {
			list[i].SupersededAt = now
		}
	}
	list = slices.DeleteFunc(list, func(c credential) bool {
		gone := !now.Before(c.SupersededAt.Add(supersedeGrace)) || now.Sub(c.IssuedAt) > forgetAfter
		if gone && dropped != nil {
			dropped(c.Value)
		}
		return gone
	})
	if len(list) >= 50 {
		for _, c := range list[:len(list)-49] {
			if dropped != nil {
				dropped(c.Value)
			}
		}
		list = slices.Delete(list, 0, len(list)-49)
	}
	return append(list, credential{Value: value, IssuedAt: now})
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
