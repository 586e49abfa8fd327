package sandbox

import "time"

// The functions here issue and revoke what WeChat hands out, keeping the
// indexes (codes by value, tokens by value) and the change record in step.
// Callers hold s.mu.

// issueTicketLocked remembers a new component_verify_ticket.
func (s *Sandbox) issueTicketLocked(c *component, now time.Time) string {
	ticket := "ticket@@@" + randomToken(48)
	cs := s.st.ensureComponent(c.AppID)
	cs.Tickets = append(pruneIssued(cs.Tickets, now, 200), issued{Value: ticket, IssuedAt: now})
	s.touch(ref{kind: kComponent, a: c.AppID})
	return ticket
}

// issueComponentTokenLocked issues a component_access_token, superseding the
// previous one.
func (s *Sandbox) issueComponentTokenLocked(c *component, now time.Time) string {
	tok := randomToken(64)
	cs := s.st.ensureComponent(c.AppID)
	cs.Tokens = issueCredential(cs.Tokens, tok, now, nil)
	s.touch(ref{kind: kComponent, a: c.AppID})
	return tok
}

// issuePreAuthLocked issues a pre_auth_code valid for 600 s.
func (s *Sandbox) issuePreAuthLocked(c *component, now time.Time) string {
	cs := s.st.ensureComponent(c.AppID)
	cs.PreAuthCodes.prune(now, codeLimit, func(id codeID) { s.touch(codeRef(kPreAuth, c.AppID, id)) })
	pre := "preauthcode@@@" + randomToken(48)
	id := codeIDOf(pre)
	cs.PreAuthCodes.put(id, code{IssuedAt: now.UnixNano()})
	s.touch(codeRef(kPreAuth, c.AppID, id))
	return pre
}

// usePreAuthLocked records that appid authorized with a pre_auth_code, and
// reports false if another account already did: a pre_auth_code authorizes
// one account (the same one may open it again).
func (s *Sandbox) usePreAuthLocked(c *component, pre, appid string) bool {
	cs := s.st.ensureComponent(c.AppID)
	id := codeIDOf(pre)
	v, ok := cs.PreAuthCodes.byID[id]
	if !ok {
		return true // not one of WeChat's (parseAuthRequest checked it): nothing to record
	}
	if v.AppID != "" {
		return v.AppID == appid
	}
	v.AppID = appid
	cs.PreAuthCodes.put(id, v)
	s.touch(codeRef(kPreAuth, c.AppID, id))
	return true
}

// issueAuthCodeLocked issues an authorization code valid for 3600 s.
func (s *Sandbox) issueAuthCodeLocked(c *component, appid string) string {
	now := s.now()
	cs := s.st.ensureComponent(c.AppID)
	cs.AuthCodes.prune(now, codeLimit, func(id codeID) { s.touch(codeRef(kAuthCode, c.AppID, id)) })
	value := "queryauthcode@@@" + randomToken(48)
	id := codeIDOf(value)
	cs.AuthCodes.put(id, code{AppID: appid, IssuedAt: now.UnixNano()})
	s.touch(codeRef(kAuthCode, c.AppID, id))
	return value
}

// issueAccessTokenLocked issues an authorizer_access_token, superseding the
// previous one (which keeps its grace period), and indexes it.
func (s *Sandbox) issueAccessTokenLocked(authz *authorization, now time.Time) credential {
	tok := randomToken(64)
	authz.AccessTokens = issueCredential(authz.AccessTokens, tok, now, func(old string) { delete(s.st.tokens, codeIDOf(old)) })
	s.st.tokens[codeIDOf(tok)] = authz
	s.touch(ref{kind: kAuthz, a: authz.component, b: authz.AppID})
	return authz.AccessTokens[len(authz.AccessTokens)-1]
}

// revokeLocked ends an authorization: its tokens and refresh token die at once.
func (s *Sandbox) revokeLocked(authz *authorization, now time.Time) {
	authz.Authorized = false
	authz.RevokedAt = now
	authz.RefreshToken = ""
	for _, t := range authz.AccessTokens {
		delete(s.st.tokens, codeIDOf(t.Value))
	}
	authz.AccessTokens = nil
	s.st.ensureComponent(authz.component).listed = nil
	s.touch(ref{kind: kAuthz, a: authz.component, b: authz.AppID})
}
