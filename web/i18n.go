package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The console speaks Chinese first with English beside; a person who reads
// English better switches to English only. The choice is a cookie, set by
// GET /lang?to=en|zh&next=PATH (a preference, not a state change worth a
// CSRF token), and every page is rendered with it as .L.
const (
	langCookie = "wxfleet_lang"
	langZH     = "zh"
	langEN     = "en"
)

// pageLang is the request's console language: its cookie, else Chinese.
func pageLang(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && c.Value == langEN {
		return langEN
	}
	return langZH
}

// setLang switches the console's language and goes back where the person was.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	if to != langEN {
		to = langZH
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: to, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
		HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// i18nFuncs are the templates' words:
//
//	{{t $.L "概览" "Dashboard"}}  markup: 概览 <span class="en">Dashboard</span>, or Dashboard
//	{{tt $.L "概览" "Dashboard"}} plain text (titles, attributes): 概览 Dashboard, or Dashboard
//	{{bi $.L .Title}}             a "中文 English" string made in Go: whole, or its English part
var i18nFuncs = template.FuncMap{
	"t": func(lang, zh, en string) template.HTML {
		if lang == langEN {
			return template.HTML(template.HTMLEscapeString(en))
		}
		return template.HTML(template.HTMLEscapeString(zh) + ` <span class="en">` + template.HTMLEscapeString(en) + `</span>`)
	},
	"tt": func(lang, zh, en string) string {
		if lang == langEN {
			return en
		}
		return zh + " " + en
	},
	"bi": bilingual,
	"htmlLang": func(lang string) string {
		if lang == langEN {
			return "en"
		}
		return "zh-CN"
	},
}

// bilingual shows a "中文 English" string in lang: whole in Chinese (Chinese
// first, English beside), its English part in English — what follows the last
// Chinese character, without the separators between the two. A string with
// no English part stays whole.
func bilingual(lang, s string) string {
	if lang != langEN {
		return s
	}
	last := strings.LastIndexFunc(s, func(r rune) bool {
		return unicode.Is(unicode.Han, r) || unicode.In(r, unicode.Hiragana) || r == '，' || r == '。' || r == '：' || r == '（' || r == '）'
	})
	if last < 0 {
		return s
	}
	_, size := utf8.DecodeRuneInString(s[last:])
	en := strings.TrimLeft(s[last+size:], " /·:-|")
	if en == "" {
		return s
	}
	return en
}

// switchBack is where the language switch returns to: this page's path and
// the one parameter that picks what it shows (the platform). Nothing else
// of the query: a page must never echo what a visitor put in its URL (the
// public 授权 page takes no ?merchant=, and would seem to).
func switchBack(r *http.Request) string {
	back := r.URL.Path
	if p := r.URL.Query().Get("platform"); p != "" {
		back += "?" + url.Values{"platform": {p}}.Encode()
	}
	return back
}
