package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode"
)

func TestBilingual(t *testing.T) {
	for _, tc := range []struct{ in, en string }{
		{"已授权 authorized", "authorized"},
		{"需重新授权 re-authorization needed", "re-authorization needed"},
		{"本月剩余 5 次 · 5 left this month", "5 left this month"},
		{"请求体超过 10 字节 / body over 10 bytes", "body over 10 bytes"},
		{"没有这个租户（id 7）/ no such tenant", "no such tenant"},
		{"only English", "only English"},
		{"只有中文", "只有中文"},
		{"", ""},
	} {
		if got := bilingual(langZH, tc.in); got != tc.in {
			t.Errorf("zh %q → %q, want it whole", tc.in, got)
		}
		if got := bilingual(langEN, tc.in); got != tc.en {
			t.Errorf("en %q → %q, want %q", tc.in, got, tc.en)
		}
	}
}

// Every page renders in both languages, and the English one shows no
// Chinese outside the language switch and data.
func TestPagesRenderInBothLanguages(t *testing.T) {
	s := &Server{}
	for _, name := range []string{"error", "rollouts", "authorizers", "home"} {
		for _, lang := range []string{langZH, langEN} {
			req := httptest.NewRequest("GET", "/x", nil)
			if lang == langEN {
				req.AddCookie(&http.Cookie{Name: langCookie, Value: langEN})
			}
			rec := httptest.NewRecorder()
			s.render(rec, req, 200, name, map[string]any{"Title": "出错了 Error", "Message": "没有 / none", "Back": "/"})
			body := rec.Body.String()
			if rec.Code != 200 || !strings.Contains(body, "</html>") {
				t.Fatalf("%s/%s: HTTP %d, incomplete page:\n%s", name, lang, rec.Code, body)
			}
			if lang == langEN {
				page := strings.Replace(body, `lang="zh-CN">中文</a>`, "", 1)
				if i := strings.IndexFunc(page, func(r rune) bool { return unicode.Is(unicode.Han, r) }); i >= 0 {
					t.Errorf("%s in English shows Chinese: …%s…", name, page[max(0, i-80):min(len(page), i+40)])
				}
				if !strings.Contains(body, `<html lang="en">`) {
					t.Errorf("%s in English: no <html lang=\"en\">", name)
				}
			} else if !bytes.ContainsAny([]byte(body), "概授发") {
				t.Errorf("%s in Chinese shows no Chinese", name)
			}
		}
	}
}

// The switch sets the cookie and goes back, never off the site.
func TestLanguageSwitch(t *testing.T) {
	s := &Server{}
	for next, want := range map[string]string{"/rollouts?platform=wx1": "/rollouts?platform=wx1", "//evil.example/": "/authorizers"} {
		rec := httptest.NewRecorder()
		s.setLang(rec, httptest.NewRequest("GET", "/lang?to=en&next="+url.QueryEscape(next), nil))
		if rec.Code != 303 || rec.Header().Get("Location") != want {
			t.Errorf("next %q: HTTP %d → %q, want 303 → %q", next, rec.Code, rec.Header().Get("Location"), want)
		}
		c := rec.Result().Cookies()
		if len(c) != 1 || c[0].Name != langCookie || c[0].Value != langEN || !c[0].HttpOnly {
			t.Errorf("cookie %+v, want %s=en HttpOnly", c, langCookie)
		}
	}
	rec := httptest.NewRecorder()
	s.setLang(rec, httptest.NewRequest("GET", "/lang?to=fr", nil))
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].Value != langZH {
		t.Errorf("an unknown language: cookie %+v, want zh", c)
	}
}

// The switch's way back keeps the platform and nothing else a visitor wrote.
func TestSwitchBackKeepsOnlyThePlatform(t *testing.T) {
	for in, want := range map[string]string{
		"/authorize?merchant=evil&platform=wx1": "/authorize?platform=wx1",
		"/rollouts/3":                           "/rollouts/3",
		"/authorizers?cursor=x":                 "/authorizers",
	} {
		if got := switchBack(httptest.NewRequest("GET", in, nil)); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}
