package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// legacyState is sandbox.json as earlier versions wrote it: the whole state as
// one JSON document. It is read once, imported into sandbox.db and renamed
// sandbox.json.imported.
type legacyState struct {
	ClockOffset time.Duration                    `json:"clock_offset"`
	NextMsgID   int64                            `json:"next_msg_id"`
	Accounts    []*account                       `json:"accounts"`
	Components  map[string]*legacyComponentState `json:"components"`
	Users       map[string]*appUsers             `json:"users"`
	Outbox      []outboxEntry                    `json:"outbox"`
	Quota       quotaState                       `json:"quota"`
}

// authCode is an authorization code as sandbox.json kept it.
type authCode struct {
	Value    string    `json:"value"`
	AppID    string    `json:"appid"`
	IssuedAt time.Time `json:"issued_at"`
}

type legacyComponentState struct {
	Tickets        []issued                  `json:"tickets"`
	Tokens         []credential              `json:"tokens"`
	PreAuthCodes   []issued                  `json:"pre_auth_codes"`
	AuthCodes      []authCode                `json:"auth_codes"`
	Authorizations map[string]*authorization `json:"authorizations"`
	IPWhitelist    []string                  `json:"ip_whitelist,omitempty"`
}

// importLegacy reads path into a state; os.ErrNotExist when there is none.
// The file is renamed only after its rows are committed (Sandbox.importDone).
func importLegacy(path string, seal *sealer) (*state, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if data, err = seal.openLegacy(data); err != nil {
		return nil, err
	}
	var old legacyState
	if err := json.Unmarshal(data, &old); err != nil {
		return nil, fmt.Errorf("sandbox: %s is not valid state: %w", path, err)
	}
	st := newState()
	st.ClockOffset, st.NextMsgID, st.Quota = old.ClockOffset, old.NextMsgID, old.Quota
	for _, a := range old.Accounts {
		if a != nil && !st.exists(a.AppID) {
			st.addAccount(a)
		}
	}
	for id, old := range old.Components {
		cs := st.ensureComponent(id)
		cs.Tickets, cs.Tokens, cs.IPWhitelist = old.Tickets, old.Tokens, old.IPWhitelist
		for _, v := range old.PreAuthCodes {
			cs.PreAuthCodes.put(codeIDOf(v.Value), code{IssuedAt: v.IssuedAt.UnixNano()})
		}
		for _, v := range old.AuthCodes {
			cs.AuthCodes.put(codeIDOf(v.Value), code{AppID: v.AppID, IssuedAt: v.IssuedAt.UnixNano()})
		}
		for appid, authz := range old.Authorizations {
			authz.AppID, authz.component = appid, id
			authz.FuncInfo = st.internFuncs(authz.FuncInfo)
			cs.Authorizations[appid] = authz
			for _, t := range authz.AccessTokens {
				st.tokens[codeIDOf(t.Value)] = authz
			}
		}
	}
	for appid, u := range old.Users {
		st.Users[appid] = u
	}
	for _, e := range old.Outbox {
		st.nextSeq++
		e.Seq = st.nextSeq
		st.Outbox = append(st.Outbox, e)
	}
	return st, nil
}
