package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

func testRuntimeSessions(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	for _, app := range []string{"wx1", "wx2"} {
		must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxA", app)))
	}
	sess := func(digest, app string, life time.Duration) *wxfleet.RuntimeSession {
		return &wxfleet.RuntimeSession{TokenDigest: digest, ComponentAppID: "wxA", AppID: app, OpenID: "o-" + digest,
			UnionID: "u-" + digest, SessionKey: wxfleet.Secret("sk-" + digest + "-plaintext"), CreatedAt: base, ExpiresAt: base.Add(life)}
	}
	must(t, h.CreateRuntimeSession(h.ctx, sess("d1", "wx1", time.Hour)))
	must(t, h.CreateRuntimeSession(h.ctx, sess("d2", "wx2", time.Minute)))

	got, err := h.RuntimeSession(h.ctx, "d1", base.Add(30*time.Minute))
	must(t, err)
	if got.AppID != "wx1" || got.ComponentAppID != "wxA" || got.OpenID != "o-d1" || got.UnionID != "u-d1" ||
		got.SessionKey != "" || !got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("session = %+v (the plain read leaves session_key out)", got)
	}
	withKey, err := h.RuntimeSessionKey(h.ctx, "d1", base)
	must(t, err)
	if withKey.SessionKey.Reveal() != "sk-d1-plaintext" {
		t.Fatalf("session_key %q", withKey.SessionKey.Reveal())
	}
	// Expired, unknown: not found.
	_, err = h.RuntimeSession(h.ctx, "d2", base.Add(time.Minute))
	wantCode(t, err, wxfleet.ENOTFOUND)
	_, err = h.RuntimeSession(h.ctx, "nope", base)
	wantCode(t, err, wxfleet.ENOTFOUND)
	// The same digest twice is a bug of the caller; an unknown app not found.
	wantCode(t, h.CreateRuntimeSession(h.ctx, sess("d1", "wx1", time.Hour)), wxfleet.EINTERNAL)
	wantCode(t, h.CreateRuntimeSession(h.ctx, sess("d9", "wx-none", time.Hour)), wxfleet.ENOTFOUND)
	wantCode(t, h.CreateRuntimeSession(h.ctx, &wxfleet.RuntimeSession{ComponentAppID: "wxA", AppID: "wx1"}), wxfleet.EINVALID)

	// The session_key rests sealed, bound to its row.
	raw := h.rawDB(t)
	var sealed string
	must(t, raw.QueryRowContext(h.ctx, `SELECT session_key_sealed FROM runtime_sessions WHERE token_digest = 'd1'`).Scan(&sealed))
	if sealed == "" || strings.Contains(sealed, "plaintext") {
		t.Fatalf("session_key at rest: %q", sealed)
	}
	must(t, h.CreateRuntimeSession(h.ctx, sess("d3", "wx1", 2*time.Hour)))
	_, err = raw.ExecContext(h.ctx, `UPDATE runtime_sessions SET session_key_sealed = $1 WHERE token_digest = 'd3'`, sealed)
	must(t, err)
	if _, err := h.RuntimeSessionKey(h.ctx, "d3", base); err == nil {
		t.Fatal("d1's session_key, copied into d3's row, opened there")
	}

	// Logout; a later login removes the expired rows.
	must(t, h.DeleteRuntimeSession(h.ctx, "d1"))
	must(t, h.DeleteRuntimeSession(h.ctx, "d1"))
	_, err = h.RuntimeSession(h.ctx, "d1", base)
	wantCode(t, err, wxfleet.ENOTFOUND)
	later := sess("d4", "wx2", time.Hour)
	later.CreatedAt, later.ExpiresAt = base.Add(90*time.Minute), base.Add(3*time.Hour)
	must(t, h.CreateRuntimeSession(h.ctx, later))
	if n := countRows(t, h, raw, "runtime_sessions"); n != 2 {
		t.Fatalf("%d session rows, want 2 (d2 expired, d1 logged out, d3 and d4 live)", n)
	}
}
