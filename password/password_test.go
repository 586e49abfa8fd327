package password

import (
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoded %q: want the PHC argon2id form with its parameters", h)
	}
	if strings.Contains(h, "horse") {
		t.Fatal("the hash contains the password")
	}
	ok, err := Verify(h, "correct horse battery staple")
	if err != nil || !ok {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := Verify(h, "correct horse battery stapler"); ok {
		t.Fatal("wrong password verified")
	}
	h2, _ := Hash("correct horse battery staple")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: no fresh salt")
	}
	if NeedsRehash(h) {
		t.Fatal("a fresh hash needs a rehash")
	}
	weak, _ := Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}.Hash("x")
	if ok, err := Verify(weak, "x"); !ok || err != nil {
		t.Fatalf("hash with other parameters: %v %v (Verify must read them from the string)", ok, err)
	}
	if !NeedsRehash(weak) {
		t.Fatal("a weaker hash does not need a rehash")
	}
}

func TestVerifyRefusesBadEncodings(t *testing.T) {
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", // 4 GiB: refused, not computed
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5"} {
		if ok, err := Verify(enc, "x"); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want an error", enc, ok, err)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		pw, email string
		ok        bool
	}{
		{"short", "", false},
		{"elevenchars", "", false},
		{"twelve chars", "", true},
		{"密码密码密码密码密码密码", "", true},
		{"aaaaaaaaaaaaaaaa", "", false},
		{"密密密密密密密密密密密密", "", false},
		{"ops@example.com", "ops@example.com", false},
		{strings.Repeat("ab", MaxBytes), "", false},
	} {
		err := Check(tt.pw, tt.email)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q): %v, want ok=%v", tt.pw, err, tt.ok)
		}
		if err != nil && wxfleet.ErrorCode(err) != wxfleet.EINVALID {
			t.Errorf("Check(%q): code %q", tt.pw, wxfleet.ErrorCode(err))
		}
	}
}

// BenchmarkVerify is one sign-in's cost with the default parameters.
func BenchmarkVerify(b *testing.B) {
	h, _ := Hash("correct horse battery staple")
	for b.Loop() {
		Verify(h, "correct horse battery staple")
	}
}
