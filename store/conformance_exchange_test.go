package store_test

import (
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

// ---- authorization code exchanges ----

func testCodeExchanges(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	const code = "queryauthcode@@@secret-code"
	_, err := h.ExchangedCode(h.ctx, "wxA", code)
	wantCode(t, err, wxfleet.ENOTFOUND)

	must(t, h.RecordCodeExchange(h.ctx, "wxA", code, "wxapp1", base))
	got, err := h.ExchangedCode(h.ctx, "wxA", code)
	must(t, err)
	if got != "wxapp1" {
		t.Fatalf("ExchangedCode = %q, want wxapp1", got)
	}
	// Recording it again keeps the first record.
	must(t, h.RecordCodeExchange(h.ctx, "wxA", code, "wxapp2", base.Add(time.Second)))
	if got, _ := h.ExchangedCode(h.ctx, "wxA", code); got != "wxapp1" {
		t.Fatalf("after a second record ExchangedCode = %q, want wxapp1", got)
	}
	// Tenant first: another platform never sees it.
	_, err = h.ExchangedCode(h.ctx, "wxB", code)
	wantCode(t, err, wxfleet.ENOTFOUND)
	// An unknown platform, or a record without its parts, is refused.
	wantCode(t, h.RecordCodeExchange(h.ctx, "wxnone", code, "wxapp1", base), wxfleet.ENOTFOUND)
	wantCode(t, h.RecordCodeExchange(h.ctx, "wxA", "", "wxapp1", base), wxfleet.EINVALID)
	wantCode(t, h.RecordCodeExchange(h.ctx, "wxA", code, "", base), wxfleet.EINVALID)

	// The code itself is never stored.
	var stored int
	must(t, h.rawDB(t).QueryRowContext(h.ctx, `SELECT count(*) FROM auth_code_exchanges WHERE code_sha256 LIKE '%secret-code%'`).Scan(&stored))
	if stored != 0 {
		t.Fatal("the authorization code is stored in the clear")
	}

	// Pruning forgets what is older than the cut, of every platform.
	must(t, h.RecordCodeExchange(h.ctx, "wxB", "code-b-old", "wxapp3", base.Add(-2*time.Hour)))
	must(t, h.RecordCodeExchange(h.ctx, "wxB", "code-b-new", "wxapp3", base.Add(time.Hour)))
	n, err := h.PruneCodeExchanges(h.ctx, base)
	must(t, err)
	if n != 1 {
		t.Fatalf("PruneCodeExchanges removed %d, want 1", n)
	}
	if _, err := h.ExchangedCode(h.ctx, "wxB", "code-b-old"); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("a pruned exchange is still there: %v", err)
	}
	for _, c := range []struct{ comp, code string }{{"wxA", code}, {"wxB", "code-b-new"}} {
		if _, err := h.ExchangedCode(h.ctx, c.comp, c.code); err != nil {
			t.Fatalf("pruning removed %s's exchange at the cut or later: %v", c.comp, err)
		}
	}
}
