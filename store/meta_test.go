package store_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/wxfleet/wxfleet"
)

// The first CheckVaultKey records the key's fingerprint; another key is then
// refused (naming both fingerprints, never the key), the same key accepted.
func testCheckVaultKey(t *testing.T, h *harness) {
	must(t, h.CheckVaultKey(h.ctx, base))
	must(t, h.CheckVaultKey(h.ctx, base))
	other := newVault(t)
	err := h.reopen(t, other).CheckVaultKey(h.ctx, base)
	wantCode(t, err, wxfleet.EINVALID)
	if !strings.Contains(err.Error(), h.vault.Fingerprint()[:16]) || !strings.Contains(err.Error(), other.Fingerprint()[:16]) {
		t.Fatalf("error %q names neither fingerprint", err)
	}
	must(t, h.reopen(t, h.vault).CheckVaultKey(h.ctx, base))
	db := h.rawDB(t)
	var stored string
	must(t, db.QueryRowContext(h.ctx, `SELECT value FROM meta WHERE key = 'vault_key_fingerprint'`).Scan(&stored))
	if stored != h.vault.Fingerprint() {
		t.Fatalf("stored fingerprint %q, want %q", stored, h.vault.Fingerprint())
	}
}

// Instances starting together on a fresh database with different keys: one
// key wins, every other is refused.
func testCheckVaultKeyRace(t *testing.T, h *harness) {
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		s := h.reopen(t, newVault(t))
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.CheckVaultKey(h.ctx, base) }()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch wxfleet.ErrorCode(err) {
		case "":
			ok++
		case wxfleet.EINVALID:
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d different keys accepted, want exactly 1", ok, n)
	}
}
