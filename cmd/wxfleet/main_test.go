package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, lookup, environ)
	return out.String(), errOut.String(), err
}

// The decryption sample Tencent publishes with WXBizMsgCrypt goes through the
// command as a person debugging a push would use it.
func TestCryptDecryptsWeChatsSample(t *testing.T) {
	envelope := `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>`
	args := []string{"crypt", "decrypt", "--token", "spamtest", "--aes-key", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		"--appid", "wx2c2769f8efd9abc2", "--timestamp", "1409735669", "--nonce", "1320562132", "--msg-signature", "5d197aaffba7e9b25a30732f161a50dee96bd5fa"}
	out, _, err := runCmd(t, envelope, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "<Content><![CDATA[abcdteT]]></Content>") {
		t.Fatalf("plaintext = %s", out)
	}
	for _, tc := range []struct {
		name, flag, value, step string
	}{
		{"wrong signature", "--msg-signature", "0000000000000000000000000000000000000000", "signature"},
		{"foreign appid", "--appid", "wx0000000000000000", "appid"},
	} {
		bad := append([]string(nil), args...)
		for i := range bad {
			if bad[i] == tc.flag {
				bad[i+1] = tc.value
			}
		}
		_, _, err := runCmd(t, envelope, nil, bad...)
		if err == nil || !strings.Contains(err.Error(), "step "+tc.step) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want a one-line reason naming step %s", tc.name, err, tc.step)
		}
	}
	// A wrong key fails too (at padding or length, depending on the garbage).
	bad := append([]string(nil), args...)
	bad[4] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"
	if _, _, err := runCmd(t, envelope, nil, bad...); err == nil {
		t.Error("wrong key decrypted")
	}
}

func TestCryptEncryptRoundTrip(t *testing.T) {
	key := "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	out, _, err := runCmd(t, "<xml><Content>你好</Content></xml>", nil,
		"crypt", "encrypt", "--token", "tok", "--aes-key", key, "--appid", "wxabc", "--timestamp", "1700000000", "--nonce", "42")
	if err != nil {
		t.Fatal(err)
	}
	sig := between(out, "<MsgSignature><![CDATA[", "]]>")
	plain, _, err := runCmd(t, out, nil, "crypt", "decrypt", "--token", "tok", "--aes-key", key, "--appid", "wxabc",
		"--timestamp", "1700000000", "--nonce", "42", "--msg-signature", sig)
	if err != nil || strings.TrimSpace(plain) != "<xml><Content>你好</Content></xml>" {
		t.Fatalf("round trip: %q, %v", plain, err)
	}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

func TestSettingsErrorsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown variable", map[string]string{"WXFLEET_ADMN_TOKEN": "x"}, []string{"serve"}, "WXFLEET_ADMN_TOKEN"},
		{"no platform", map[string]string{"WXFLEET_ADMIN_TOKEN": "x"}, []string{"serve", "--data", dir}, "WXFLEET_COMPONENT_APPID"},
		{"partial platform", map[string]string{"WXFLEET_ADMIN_TOKEN": "x", "WXFLEET_COMPONENT_APPID": "wx1"}, []string{"serve", "--data", dir}, "WXFLEET_COMPONENT_SECRET"},
		{"no admin token", map[string]string{"WXFLEET_COMPONENT_APPID": "wx1", "WXFLEET_COMPONENT_SECRET": "s", "WXFLEET_COMPONENT_TOKEN": "t",
			"WXFLEET_COMPONENT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}, []string{"serve", "--data", dir}, "WXFLEET_ADMIN_TOKEN"},
		{"short aes key", map[string]string{"WXFLEET_COMPONENT_AES_KEY": "short"}, []string{"demo", "--data", dir}, "43 characters"},
		{"bad wechat url", map[string]string{"WXFLEET_ADMIN_TOKEN": "x"}, []string{"serve", "--wechat-url", "localhost:8081"}, "--wechat-url"},
		{"unknown flag", nil, []string{"serve", "--adr", ":1"}, "-adr"},
		{"short admin token", map[string]string{"WXFLEET_ADMIN_TOKEN": "x", "WXFLEET_COMPONENT_APPID": "wx1", "WXFLEET_COMPONENT_SECRET": "s",
			"WXFLEET_COMPONENT_TOKEN": "t", "WXFLEET_COMPONENT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}, []string{"serve", "--data", dir}, "at least 32"},
		{"bad retention", map[string]string{"WXFLEET_ADMIN_TOKEN": strings.Repeat("a", 32), "WXFLEET_EVENT_RETENTION": "soon", "WXFLEET_COMPONENT_APPID": "wx1",
			"WXFLEET_COMPONENT_SECRET": "s", "WXFLEET_COMPONENT_TOKEN": "t", "WXFLEET_COMPONENT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"},
			[]string{"serve", "--data", dir}, "WXFLEET_EVENT_RETENTION"},
		{"bad runtime session ttl", map[string]string{"WXFLEET_ADMIN_TOKEN": strings.Repeat("a", 32), "WXFLEET_RUNTIME_SESSION_TTL": "10s", "WXFLEET_COMPONENT_APPID": "wx1",
			"WXFLEET_COMPONENT_SECRET": "s", "WXFLEET_COMPONENT_TOKEN": "t", "WXFLEET_COMPONENT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"},
			[]string{"serve", "--data", dir}, "WXFLEET_RUNTIME_SESSION_TTL"},
		{"both value and file", map[string]string{"WXFLEET_ADMIN_TOKEN": "x", "WXFLEET_ADMIN_TOKEN_FILE": "/x"}, []string{"demo", "--data", dir}, "WXFLEET_ADMIN_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, "", tc.env, tc.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error() + stderr; !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name %s", msg, tc.want)
			}
		})
	}
}

func TestPlatformsFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "b.secret"), []byte("secret-b\n"), 0o600)
	path := filepath.Join(dir, "platforms.json")
	os.WriteFile(path, []byte(`{"platforms":[
	 {"component_appid":"wxaaaaaaaaaaaaaaaa","name":"A","secret":"sa","token":"ta","aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"},
	 {"component_appid":"wxbbbbbbbbbbbbbbbb","name":"B","secret_file":"b.secret","token":"tb","aes_key":"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"}]}`), 0o600)
	ps, err := loadPlatforms(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[1].Secret.Reveal() != "secret-b" || ps[0].Name != "A" {
		t.Fatalf("platforms = %+v", ps)
	}
	os.WriteFile(path, []byte(`{"platforms":[{"component_appid":"wxa","secrett":"x"}]}`), 0o600)
	if _, err := loadPlatforms(path); err == nil || !strings.Contains(err.Error(), "secrett") {
		t.Errorf("unknown field: %v", err)
	}
}
