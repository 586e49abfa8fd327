package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
)

// The token refresher's bookkeeping (migration 4): which authorizers have a
// refresh queued, their failures, the platforms whose WeChat API is paused,
// and the cluster's call schedule (pacers).

// RefreshDueQuery selects a page of one platform's authorizers whose token is
// due, in the order the refresher serves them: soonest expiry first.
type RefreshDueQuery struct {
	ComponentAppID string
	Before         time.Time // tokens expiring before this are due
	// Now skips authorizers whose queued refresh stands after now (see
	// MarkRefreshQueued) or whose retry is not yet due (RecordRefreshFailure).
	Now time.Time
	// Failing selects the authorizers with recorded failures instead of
	// those without: the refresher serves the healthy ones first, so a
	// failing minority never takes the others' turn.
	Failing bool
	// After is the last row of the previous page; nil starts at the top.
	After *AuthorizerRef
	Limit int // page size; ≤ 0 means 50, at most 1000: page with After
}

// RefreshDue returns a page of q's due authorizers, authorized ones only. The
// index authorizers_platform_due serves it in order; each row costs one
// primary-key probe of authorizer_refresh.
func (s *Store) RefreshDue(ctx context.Context, q RefreshDueQuery) ([]AuthorizerRef, error) {
	afterAt, afterApp := int64(-1), ""
	if q.After != nil {
		afterAt, afterApp = toMillis(q.After.TokenExpiresAt), q.After.AppID
	}
	state := `(r.appid IS NULL OR (r.failures = 0 AND r.queued_until <= $6))`
	if q.Failing {
		state = `(r.failures > 0 AND r.queued_until <= $6)`
	}
	rows, err := s.read.QueryContext(ctx, `
		SELECT a.appid, a.token_expires_at FROM authorizers a
		LEFT JOIN authorizer_refresh r ON r.component_appid = a.component_appid AND r.appid = a.appid
		WHERE a.component_appid = $1 AND a.status = $2 AND a.token_expires_at < $3
		  AND (a.token_expires_at > $4 OR (a.token_expires_at = $4 AND a.appid > $5))
		  AND `+state+`
		ORDER BY a.token_expires_at, a.appid
		LIMIT $7`,
		q.ComponentAppID, wxfleet.StatusAuthorized, toMillis(q.Before), afterAt, afterApp, toMillis(q.Now), clampLimit(q.Limit))
	if err != nil {
		return nil, dbErr("refresh due", err)
	}
	defer rows.Close()
	var out []AuthorizerRef
	for rows.Next() {
		r := AuthorizerRef{ComponentAppID: q.ComponentAppID}
		var ms int64
		if err := rows.Scan(&r.AppID, &ms); err != nil {
			return nil, dbErr("refresh due", err)
		}
		r.TokenExpiresAt = fromMillis(ms)
		out = append(out, r)
	}
	return out, dbErr("refresh due", rows.Err())
}

// RefreshMark says that a refresh job for an authorizer stands until Until:
// RefreshDue skips the authorizer until then.
type RefreshMark struct {
	ComponentAppID string
	AppID          string
	Until          time.Time
}

// markChunk bounds one statement: 3 parameters a row, far below both
// databases' limits.
const markChunk = 500

// MarkRefreshQueued records marks, in one transaction. A mark in the past
// (or the zero time) releases the authorizer to the next sweep.
func (s *Store) MarkRefreshQueued(ctx context.Context, marks []RefreshMark) error {
	if len(marks) == 0 {
		return nil
	}
	return dbErr("mark refresh queued", s.inTx(ctx, func(tx *sql.Tx) error {
		for len(marks) > 0 {
			n := min(len(marks), markChunk)
			var b strings.Builder
			args := make([]any, 0, 3*n)
			b.WriteString(`INSERT INTO authorizer_refresh (component_appid, appid, queued_until) VALUES `)
			for i, m := range marks[:n] {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(" + placeholder(len(args)+1) + ", " + placeholder(len(args)+2) + ", " + placeholder(len(args)+3) + ")")
				args = append(args, m.ComponentAppID, m.AppID, toMillis(m.Until))
			}
			b.WriteString(` ON CONFLICT (component_appid, appid) DO UPDATE SET queued_until = excluded.queued_until`)
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
			marks = marks[n:]
		}
		return nil
	}))
}

// RefreshFailure is one failed refresh of an authorizer's token.
type RefreshFailure struct {
	ComponentAppID string
	AppID          string
	Errcode        int    // WeChat's errcode; -2 when WeChat gave no answer
	Error          string // what went wrong, for the operator (no secrets)
	At             time.Time
	// The authorizer's next refresh waits Backoff per consecutive failure,
	// at most MaxBackoff.
	Backoff, MaxBackoff time.Duration
}

// RecordRefreshFailure counts a failed refresh and holds the authorizer back
// from RefreshDue for its backoff. It returns the consecutive failures so far.
func (s *Store) RecordRefreshFailure(ctx context.Context, f RefreshFailure) (int, error) {
	msg := f.Error
	if len(msg) > 500 {
		msg = msg[:500]
	}
	step, maxStep := f.Backoff.Milliseconds(), f.MaxBackoff.Milliseconds()
	var n int
	err := s.write.QueryRowContext(ctx, `
		INSERT INTO authorizer_refresh (component_appid, appid, queued_until, failures, last_errcode, last_error, last_failed_at)
		VALUES ($1, $2, CAST($3 AS BIGINT) + CAST($6 AS BIGINT), 1, $4, $5, $3)
		ON CONFLICT (component_appid, appid) DO UPDATE SET
			failures = authorizer_refresh.failures + 1,
			last_errcode = excluded.last_errcode,
			last_error = excluded.last_error,
			last_failed_at = excluded.last_failed_at,
			queued_until = excluded.last_failed_at + CASE
				WHEN (authorizer_refresh.failures + 1) * CAST($6 AS BIGINT) < CAST($7 AS BIGINT)
				THEN (authorizer_refresh.failures + 1) * CAST($6 AS BIGINT)
				ELSE CAST($7 AS BIGINT) END
		RETURNING failures`,
		f.ComponentAppID, f.AppID, toMillis(f.At), f.Errcode, msg, step, max(step, maxStep)).Scan(&n)
	if isForeignKeyViolation(err) {
		return 0, authorizerNotFound(f.ComponentAppID, f.AppID)
	}
	return n, dbErr("record refresh failure", err)
}

// RecordRefreshSuccess clears an authorizer's failures and reports whether
// it had any. For a healthy authorizer it only reads: on SQLite a write,
// even one that changes nothing, waits for the single write connection.
func (s *Store) RecordRefreshSuccess(ctx context.Context, componentAppID, appID string) (bool, error) {
	var failures int
	err := s.read.QueryRowContext(ctx, `SELECT failures FROM authorizer_refresh WHERE component_appid = $1 AND appid = $2`,
		componentAppID, appID).Scan(&failures)
	if errors.Is(err, sql.ErrNoRows) || err == nil && failures == 0 {
		return false, nil
	}
	if err != nil {
		return false, dbErr("record refresh success", err)
	}
	res, err := s.write.ExecContext(ctx, `
		UPDATE authorizer_refresh SET failures = 0, queued_until = 0
		WHERE component_appid = $1 AND appid = $2 AND failures > 0`, componentAppID, appID)
	if err != nil {
		return false, dbErr("record refresh success", err)
	}
	n, err := res.RowsAffected()
	return n > 0, dbErr("record refresh success", err)
}

// RefreshState is what the refresher knows of one authorizer.
type RefreshState struct {
	QueuedUntil  time.Time
	Failures     int // consecutive
	LastErrcode  int
	LastError    string
	LastFailedAt time.Time
}

// RefreshState returns an authorizer's refresh bookkeeping; the zero state if
// the refresher never touched it.
func (s *Store) RefreshState(ctx context.Context, componentAppID, appID string) (RefreshState, error) {
	var st RefreshState
	var queued, failed int64
	err := s.read.QueryRowContext(ctx, `
		SELECT queued_until, failures, last_errcode, last_error, last_failed_at FROM authorizer_refresh
		WHERE component_appid = $1 AND appid = $2`, componentAppID, appID).
		Scan(&queued, &st.Failures, &st.LastErrcode, &st.LastError, &failed)
	if errors.Is(err, sql.ErrNoRows) {
		return RefreshState{}, nil
	}
	st.QueuedUntil, st.LastFailedAt = fromMillis(queued), fromMillis(failed)
	return st, dbErr("refresh state", err)
}

// PacerNext returns the next free slot of the named pacer (the zero time if
// it never reserved one).
func (s *Store) PacerNext(ctx context.Context, name string) (time.Time, error) {
	var ms int64
	err := s.read.QueryRowContext(ctx, `SELECT next_slot FROM pacers WHERE name = $1`, name).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return fromMillis(ms), dbErr("pacer next", err)
}

// ReserveSlots reserves span of the named pacer's schedule, starting at its
// next free slot or now, whichever is later, and returns that start. The
// read and the move are one statement, so concurrent reservations (two
// sweeps during a leader change, several instances) never overlap. span is
// rounded up to a millisecond.
func (s *Store) ReserveSlots(ctx context.Context, name string, span time.Duration, now time.Time) (time.Time, error) {
	ms := int64((span + time.Millisecond - 1) / time.Millisecond)
	if name == "" || ms <= 0 {
		return time.Time{}, invalid("预留调用时段需要名称和正的时长 / a reservation needs a pacer name and a positive span")
	}
	at, _, err := s.ReserveSlot(ctx, name, time.Duration(ms)*time.Millisecond, now, math.MaxInt64/4)
	return at, err
}

// APIPause is a WeChat API paused for one platform after quota or outage
// errors: no instance calls it until Until, then one probe call tells
// whether it cleared.
type APIPause struct {
	ComponentAppID string
	API            string // e.g. "api_authorizer_token"
	Until          time.Time
	Since          time.Time
	Errcode        int
	Reason         string
	Probes         int // probe calls made so far
}

// PauseAPI pauses p.API for p.ComponentAppID until p.Until, or extends a
// pause already there (never shortening it; Since stays the first pause's).
func (s *Store) PauseAPI(ctx context.Context, p APIPause) error {
	if p.ComponentAppID == "" || p.API == "" {
		return invalid("暂停接口需要平台和接口名 / a pause needs a platform and an API")
	}
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO api_pauses (component_appid, api, paused_until, since, errcode, reason)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (component_appid, api) DO UPDATE SET
			paused_until = CASE WHEN api_pauses.paused_until > excluded.paused_until THEN api_pauses.paused_until ELSE excluded.paused_until END,
			errcode = excluded.errcode,
			reason = excluded.reason`,
		p.ComponentAppID, p.API, toMillis(p.Until), toMillis(p.Since), p.Errcode, p.Reason)
	return platformErr("pause api", p.ComponentAppID, err)
}

// APIPause returns the pause of api for a platform, and false if there is none.
func (s *Store) APIPause(ctx context.Context, componentAppID, api string) (APIPause, bool, error) {
	p := APIPause{ComponentAppID: componentAppID, API: api}
	var until, since int64
	err := s.read.QueryRowContext(ctx, `
		SELECT paused_until, since, errcode, reason, probes FROM api_pauses
		WHERE component_appid = $1 AND api = $2`, componentAppID, api).
		Scan(&until, &since, &p.Errcode, &p.Reason, &p.Probes)
	if errors.Is(err, sql.ErrNoRows) {
		return APIPause{}, false, nil
	}
	if err != nil {
		return APIPause{}, false, dbErr("api pause", err)
	}
	p.Until, p.Since = fromMillis(until), fromMillis(since)
	return p, true, nil
}

// APIPauses returns every platform's pause of api.
func (s *Store) APIPauses(ctx context.Context, api string) ([]APIPause, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT component_appid, paused_until, since, errcode, reason, probes FROM api_pauses
		WHERE api = $1 ORDER BY component_appid`, api)
	if err != nil {
		return nil, dbErr("api pauses", err)
	}
	defer rows.Close()
	var out []APIPause
	for rows.Next() {
		p := APIPause{API: api}
		var until, since int64
		if err := rows.Scan(&p.ComponentAppID, &until, &since, &p.Errcode, &p.Reason, &p.Probes); err != nil {
			return nil, dbErr("api pauses", err)
		}
		p.Until, p.Since = fromMillis(until), fromMillis(since)
		out = append(out, p)
	}
	return out, dbErr("api pauses", rows.Err())
}

// ClaimProbe lets exactly one caller, across instances, make the probe call
// of a pause that has run out at now: the winner moves the pause to until
// (so that the others keep waiting while it calls) and gets true.
func (s *Store) ClaimProbe(ctx context.Context, componentAppID, api string, now, until time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `
		UPDATE api_pauses SET paused_until = $3, probes = probes + 1
		WHERE component_appid = $1 AND api = $2 AND paused_until <= $4`,
		componentAppID, api, toMillis(until), toMillis(now))
	if err != nil {
		return false, dbErr("claim probe", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("claim probe", err)
}

// ResumeAPI ends a pause.
func (s *Store) ResumeAPI(ctx context.Context, componentAppID, api string) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM api_pauses WHERE component_appid = $1 AND api = $2`, componentAppID, api)
	return dbErr("resume api", err)
}

// TokenHealth counts one platform's authorized authorizers by the state of
// their access token. Fresh, Due and Expired partition them; Failing counts
// those whose latest refreshes failed, whatever their token's state.
type TokenHealth struct {
	ComponentAppID string
	Fresh          int // expires at or after now+margin
	Due            int // expires within margin, not yet expired
	Expired        int
	Failing        int
}

// TokenHealth returns every platform's token health at now, where tokens
// within margin of expiry are due. Two aggregate queries: the first reads
// only the authorizers_due index, the second the failing rows.
func (s *Store) TokenHealth(ctx context.Context, now time.Time, margin time.Duration) ([]TokenHealth, error) {
	byPlatform := map[string]*TokenHealth{}
	var order []string
	rows, err := s.read.QueryContext(ctx, `SELECT component_appid FROM platforms ORDER BY component_appid`)
	if err != nil {
		return nil, dbErr("token health", err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, dbErr("token health", err)
		}
		byPlatform[c] = &TokenHealth{ComponentAppID: c}
		order = append(order, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("token health", err)
	}
	rows, err = s.read.QueryContext(ctx, `
		SELECT component_appid,
			SUM(CASE WHEN token_expires_at >= $3 THEN 1 ELSE 0 END),
			SUM(CASE WHEN token_expires_at < $3 AND token_expires_at > $2 THEN 1 ELSE 0 END),
			SUM(CASE WHEN token_expires_at <= $2 THEN 1 ELSE 0 END)
		FROM authorizers WHERE status = $1 GROUP BY component_appid`,
		wxfleet.StatusAuthorized, now.UnixMilli(), now.Add(margin).UnixMilli())
	if err != nil {
		return nil, dbErr("token health", err)
	}
	for rows.Next() {
		var c string
		var fresh, due, expired int
		if err := rows.Scan(&c, &fresh, &due, &expired); err != nil {
			rows.Close()
			return nil, dbErr("token health", err)
		}
		if h := byPlatform[c]; h != nil {
			h.Fresh, h.Due, h.Expired = fresh, due, expired
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("token health", err)
	}
	rows, err = s.read.QueryContext(ctx, `
		SELECT r.component_appid, COUNT(*) FROM authorizer_refresh r
		JOIN authorizers a ON a.component_appid = r.component_appid AND a.appid = r.appid
		WHERE r.failures > 0 AND a.status = $1 GROUP BY r.component_appid`, wxfleet.StatusAuthorized)
	if err != nil {
		return nil, dbErr("token health", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			return nil, dbErr("token health", err)
		}
		if h := byPlatform[c]; h != nil {
			h.Failing = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("token health", err)
	}
	out := make([]TokenHealth, 0, len(order))
	for _, c := range order {
		out = append(out, *byPlatform[c])
	}
	return out, nil
}

// placeholder is "$n".
func placeholder(n int) string { return "$" + strconv.Itoa(n) }
