package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/vault"
)

// A key rotation walked a few rows at a time: mid-way every value opens
// through a store holding both keys, a store holding the old key alone is
// told to restart, a store holding both seals with the new key once it
// notices; after the sweep every value is under the new key, a store with
// the new key alone opens them all, and a second rotation has nothing to do.
func testKeyRotation(t *testing.T, h *harness) {
	oldKey := vault.GenerateKey()
	oldVault := mustVault(t, oldKey)
	old := h.reopen(t, oldVault)
	must(t, old.CheckVaultKey(h.ctx, base))
	must(t, old.UpsertPlatform(h.ctx, &wxfleet.Platform{AppID: "wxA", Name: "A", Token: "tok-wxA", AESKey: wxfleet.Secret(strings.Repeat("k", 43)), Secret: "sec-wxA"}))
	must(t, old.SaveTicket(h.ctx, &wxfleet.Ticket{ComponentAppID: "wxA", Value: "ticket@@@1", CreateTime: base, ReceivedAt: base}))
	must(t, old.SaveComponentToken(h.ctx, "wxA", wxfleet.Token{Value: "component-token", ExpiresAt: base.Add(2 * time.Hour)}))
	const apps = 9
	for i := range apps {
		a := fullAuthorizer("wxA", fmt.Sprintf("wxapp%02d", i))
		a.AccessToken, a.RefreshToken = wxfleet.Secret(fmt.Sprintf("access-%d", i)), wxfleet.Secret(fmt.Sprintf("refresh-%d", i))
		must(t, old.UpsertAuthorizer(h.ctx, a))
	}
	newKey := vault.GenerateKey()
	ring, err := vault.NewRing(newKey, oldKey)
	must(t, err)
	rot := h.reopen(t, ring)
	must(t, rot.CheckVaultKey(h.ctx, base))
	if ring.Fingerprint() != oldVault.Fingerprint() {
		t.Fatal("before the rotation a ring seals with its first key, not the one the database names")
	}
	idle, _ := vault.NewRing(newKey, oldKey) // another instance with both keys
	other := h.reopen(t, idle)
	must(t, other.CheckVaultKey(h.ctx, base))

	newFP := fingerprintOf(t, newKey)
	r, err := rot.BeginKeyRotation(h.ctx, newFP, base)
	must(t, err)
	if r == nil || r.From != oldVault.Fingerprint() || r.To != newFP {
		t.Fatalf("rotation = %+v", r)
	}
	for range 2 {
		_, err := rot.ResealBatch(h.ctx, r, 4, base)
		must(t, err)
	}
	// Mid-way: some values under each key.
	left, err := rot.CountNotSealedWith(h.ctx, newFP)
	must(t, err)
	if left == 0 || r.Walked() {
		t.Fatalf("after two batches of 4: %d values left, walked %v; want some left", left, r.Walked())
	}
	for i := range apps {
		a, err := other.Authorizer(h.ctx, "wxA", fmt.Sprintf("wxapp%02d", i))
		must(t, err)
		if a.AccessToken.Reveal() != fmt.Sprintf("access-%d", i) || a.RefreshToken.Reveal() != fmt.Sprintf("refresh-%d", i) {
			t.Fatalf("mid-rotation read of app %d: %q %q", i, a.AccessToken.Reveal(), a.RefreshToken.Reveal())
		}
	}
	// The old key alone: told to restart with both.
	if err := old.RefreshVaultKey(h.ctx); err == nil || !strings.Contains(err.Error(), "WXFLEET_MASTER_KEY_OLD") {
		t.Fatalf("RefreshVaultKey with the old key alone: %v", err)
	}
	if err := h.reopen(t, mustVault(t, newKey)).CheckVaultKey(h.ctx, base); err == nil || !strings.Contains(err.Error(), "WXFLEET_MASTER_KEY_OLD") {
		t.Fatalf("a start with the new key alone mid-rotation: %v", err)
	}
	// The other instance notices and seals with the new key.
	must(t, other.RefreshVaultKey(h.ctx))
	if idle.Fingerprint() != newFP {
		t.Fatal("an instance with both keys still seals with the old one after RefreshVaultKey")
	}
	must(t, other.SaveAuthorizerToken(h.ctx, "wxA", "wxapp08", wxfleet.Token{Value: "access-8b", ExpiresAt: base.Add(time.Hour)}, "refresh-8b"))

	for !r.Walked() {
		_, err := rot.ResealBatch(h.ctx, r, 4, base)
		must(t, err)
	}
	// An instance that had not noticed yet seals one with the old key after its row was walked: the sweep takes it.
	late := h.reopen(t, mustVault(t, oldKey))
	must(t, late.SaveAuthorizerToken(h.ctx, "wxA", "wxapp00", wxfleet.Token{Value: "access-0b", ExpiresAt: base.Add(time.Hour)}, "refresh-0b"))
	if err := rot.FinishKeyRotation(h.ctx, r); err == nil {
		t.Fatal("finished with a value still under the old key")
	}
	n, err := rot.SweepKeyRotation(h.ctx, r, 4, base)
	must(t, err)
	if n < 2 {
		t.Fatalf("the sweep re-sealed %d values, want the 2 the late instance wrote", n)
	}
	must(t, rot.FinishKeyRotation(h.ctx, r))

	only := h.reopen(t, mustVault(t, newKey))
	must(t, only.CheckVaultKey(h.ctx, base))
	for i := range apps {
		a, err := only.Authorizer(h.ctx, "wxA", fmt.Sprintf("wxapp%02d", i))
		must(t, err)
		want := fmt.Sprintf("access-%d", i)
		if i == 0 || i == 8 {
			want = fmt.Sprintf("access-%db", i)
		}
		if a.AccessToken.Reveal() != want {
			t.Fatalf("after the rotation app %d: access %q, want %q", i, a.AccessToken.Reveal(), want)
		}
	}
	p, err := only.Platform(h.ctx, "wxA")
	must(t, err)
	if p.Secret.Reveal() != "sec-wxA" {
		t.Fatalf("platform secret after rotation: %q", p.Secret.Reveal())
	}
	tk, err := only.Ticket(h.ctx, "wxA")
	must(t, err)
	ct, err := only.ComponentToken(h.ctx, "wxA")
	must(t, err)
	if tk.Value.Reveal() != "ticket@@@1" || ct.Value.Reveal() != "component-token" {
		t.Fatal("ticket or component token lost in the rotation")
	}
	if left, err := only.CountNotSealedWith(h.ctx, newFP); err != nil || left != 0 {
		t.Fatalf("%d values not under the new key (%v)", left, err)
	}
	if r, err := only.BeginKeyRotation(h.ctx, newFP, base); err != nil || r != nil {
		t.Fatalf("a second rotation to the same key: %+v, %v; want nothing to do", r, err)
	}
	if err := h.reopen(t, mustVault(t, oldKey)).CheckVaultKey(h.ctx, base); err == nil {
		t.Fatal("the old key alone was accepted after the rotation")
	}
}

func mustVault(t *testing.T, key []byte) *vault.Vault {
	t.Helper()
	v, err := vault.New(key)
	must(t, err)
	return v
}

func fingerprintOf(t *testing.T, key []byte) string { return mustVault(t, key).Fingerprint() }
