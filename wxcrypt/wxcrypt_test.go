package wxcrypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// Vectors from the WXBizMsgCrypt samples Tencent published with its SDKs.
const (
	sampleKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	sampleToken = "pamtest"
	sampleAppID = "wxb11529c136998cb6"
)

func TestEncryptMatchesPublishedSample(t *testing.T) {
	c, err := New(sampleToken, sampleKey, sampleAppID)
	if err != nil {
		t.Fatal(err)
	}
	var random [16]byte
	copy(random[:], "aaaabbbbccccdddd")
	tests := []struct{ msg, want string }{
		{"我是中文abcd123", "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="},
		{"<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>",
			"jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"},
	}
	for _, tt := range tests {
		got := c.EncryptWithRandom(random, []byte(tt.msg))
		if got != tt.want {
			t.Errorf("EncryptWithRandom(%.20q)\n got %s\nwant %s", tt.msg, got, tt.want)
		}
		msg, rid, err := c.Decrypt(tt.want)
		if err != nil || string(msg) != tt.msg || rid != sampleAppID {
			t.Errorf("Decrypt(sample) = %q, %q, %v", msg, rid, err)
		}
	}
}

// The decryption sample: a message pushed to an official account.
func TestOpenPublishedPush(t *testing.T) {
	c, err := New("spamtest", sampleKey, "wx2c2769f8efd9abc2")
	if err != nil {
		t.Fatal(err)
	}
	body := `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>`
	env, err := ParseEnvelope([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Open("5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132", env.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(msg, []byte("<Content><![CDATA[abcdteT]]></Content>")) {
		t.Errorf("plaintext = %s", msg)
	}
}

func TestOpenFailsAtTheRightStep(t *testing.T) {
	c, _ := New("tok", sampleKey, "wxcomponent")
	other, _ := New("tok", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg", "wxcomponent")
	foreign, _ := New("tok", sampleKey, "wxsomeoneelse")
	good, _ := c.Encrypt([]byte("<xml/>"))
	wrongKey, _ := other.Encrypt([]byte("<xml><a>hello world, long enough to be two blocks</a></xml>"))
	wrongApp, _ := foreign.Encrypt([]byte("<xml/>"))
	short := base64.StdEncoding.EncodeToString(make([]byte, 15))
	tests := []struct {
		name, sig, encrypt, step string
	}{
		{"bad signature", "0000000000000000000000000000000000000000", good, StepSignature},
		{"not base64", "", "@@@@", StepBase64},
		{"short ciphertext", "", short, StepPadding},
		{"wrong key", "", wrongKey, ""}, // padding or length, depending on the garbage
		{"foreign appid", "", wrongApp, StepAppID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := tt.sig
			if sig == "" {
				sig = c.MsgSignature("1", "2", tt.encrypt)
			}
			_, err := c.Open(sig, "1", "2", tt.encrypt)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Open error = %v, want *Error", err)
			}
			if tt.step != "" && e.Step != tt.step {
				t.Errorf("step = %s, want %s", e.Step, tt.step)
			}
			if tt.step == "" && e.Step != StepPadding && e.Step != StepLength && e.Step != StepAppID {
				t.Errorf("wrong key failed at %s", e.Step)
			}
		})
	}
}

func TestPaddingIsTo32Bytes(t *testing.T) {
	c, _ := New("t", sampleKey, "wx1234567890123456")
	for n := 0; n < 80; n++ {
		enc := c.EncryptWithRandom([16]byte{}, bytes.Repeat([]byte("x"), n))
		raw, _ := base64.StdEncoding.DecodeString(enc)
		if len(raw)%32 != 0 {
			t.Fatalf("len %d: ciphertext %d bytes, not a multiple of 32", n, len(raw))
		}
		plain := 16 + 4 + n + len("wx1234567890123456")
		if len(raw)-plain < 1 || len(raw)-plain > 32 {
			t.Fatalf("len %d: pad %d out of 1..32", n, len(raw)-plain)
		}
	}
}

func TestSignAndEnvelopes(t *testing.T) {
	// sha1("123abc") sorted: "1","2","3"? Use a known case: sort puts digits before letters.
	if got, want := Sign("b", "a", "c"), Sign("a", "b", "c"); got != want {
		t.Errorf("Sign is order dependent: %s vs %s", got, want)
	}
	c, _ := New("tok", sampleKey, "wxcomponent")
	if !c.VerifyPlain(strings.ToUpper(c.PlainSignature("1", "2")), "1", "2") {
		t.Error("uppercase signature rejected")
	}
	reply, err := c.ReplyEnvelope([]byte("<xml><Content>hi</Content></xml>"), 1700000000, "n1")
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnvelope(reply)
	if err != nil {
		t.Fatal(err)
	}
	sig := string(XMLField(reply, "MsgSignature"))
	msg, err := c.Open(sig, "1700000000", "n1", env.Encrypt)
	if err != nil || string(msg) != "<xml><Content>hi</Content></xml>" {
		t.Fatalf("reply round trip: %q %v", msg, err)
	}
	js, err := ParseEnvelope([]byte(`{"ToUserName": "gh_1", "Encrypt": "abc\/d="}`))
	if err != nil || js.Encrypt != "abc/d=" || js.ToUserName != "gh_1" {
		t.Errorf("json envelope = %+v, %v", js, err)
	}
	ce, _ := ParseEnvelope(ComponentEnvelope("wxc", "ZZ=="))
	if ce.AppID != "wxc" || ce.Encrypt != "ZZ==" {
		t.Errorf("component envelope = %+v", ce)
	}
	if _, err := ParseEnvelope([]byte("<xml><AppId>x</AppId></xml>")); err == nil {
		t.Error("envelope without Encrypt accepted")
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	for _, k := range []string{"", "short", sampleKey + "A", "!bcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"} {
		if _, err := New("t", k, "a"); err == nil {
			t.Errorf("New accepted key %q", k)
		}
	}
	if _, err := New("", sampleKey, "a"); err == nil {
		t.Error("New accepted an empty token")
	}
}

func FuzzDecrypt(f *testing.F) {
	c, _ := New("tok", sampleKey, "wxcomponent")
	good, _ := c.Encrypt([]byte("<xml>seed</xml>"))
	f.Add(good)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = c.Decrypt(s) // must not panic
	})
}

func FuzzRoundTrip(f *testing.F) {
	c, _ := New("tok", sampleKey, "wxcomponent")
	f.Add([]byte("<xml>seed</xml>"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0x20}, 64))
	f.Fuzz(func(t *testing.T, msg []byte) {
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Open(c.MsgSignature("1", "2", enc), "1", "2", enc)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip of %q: %q, %v", msg, got, err)
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	c, _ := New("tok", sampleKey, "wxcomponent")
	msg := []byte("<xml><ToUserName><![CDATA[gh_8dad206e9538]]></ToUserName><FromUserName><![CDATA[oUser123]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>1234567890123456</MsgId></xml>")
	enc, _ := c.Encrypt(msg)
	sig := c.MsgSignature("1700000000", "12345", enc)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Open(sig, "1700000000", "12345", enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	c, _ := New("tok", sampleKey, "wxcomponent")
	msg := bytes.Repeat([]byte("x"), 300)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Seal(msg, "1700000000", "12345"); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte("<xml><AppId><![CDATA[wx]]></AppId><Encrypt><![CDATA[QUJD]]></Encrypt></xml>"))
	f.Add([]byte(`{"Encrypt":"QUJD"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := ParseEnvelope(body) // must not panic
		if err == nil && env.Encrypt == "" {
			t.Fatal("accepted an envelope without Encrypt")
		}
	})
}
