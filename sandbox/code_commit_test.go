package sandbox

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"testing"
)

// TestCommit: every errcode rule of commit, then a commit that lands as the
// 体验版 (get_page, getversioninfo, get_qrcode, get_category).
func TestCommit(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	tid := e.template("1.0.0", "pages/index/index", "pages/shop/shop")
	body := func(change map[string]any) map[string]any {
		b := map[string]any{"template_id": tid, "ext_json": ext(AppBakery, nil), "user_version": "1.0.0", "user_desc": "首版"}
		for k, v := range change {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	commit := func(change map[string]any) map[string]any { return e.post(AppBakery, "/wxa/commit", body(change)) }

	wantErr(t, e.get(AppBakery, "/wxa/get_page"), 86001) // nothing committed yet
	for _, c := range []struct {
		name   string
		change map[string]any
		want   int
	}{
		{"no template_id", map[string]any{"template_id": nil}, 85014},
		{"unknown template", map[string]any{"template_id": 987654}, 85014},
		{"no ext_json", map[string]any{"ext_json": nil}, 85048},
		{"ext_json an object", map[string]any{"ext_json": map[string]any{"extAppid": AppBakery}}, 85048},
		{"ext_json not JSON", map[string]any{"ext_json": "{extAppid:"}, 85048},
		{"ext_json an array", map[string]any{"ext_json": "[1]"}, 85048},
		{"no user_version", map[string]any{"user_version": nil}, 47001},
		{"no user_desc", map[string]any{"user_desc": nil}, 47001},
		{"another app's extAppid", map[string]any{"ext_json": ext(AppHotPot, nil)}, 85013},
		{"extAppid not a string", map[string]any{"ext_json": `{"extAppid":1}`}, 85013},
		{"a page the template lacks", map[string]any{"ext_json": ext(AppBakery, map[string]any{"pages": []string{"pages/index/index", "pages/new/new"}})}, 85045},
		{"an extPages key the template lacks", map[string]any{"ext_json": ext(AppBakery, map[string]any{"extPages": map[string]any{"pages/x/x": map[string]any{}}})}, 85045},
		{"a tabBar page the template lacks", map[string]any{"ext_json": ext(AppBakery, map[string]any{"tabBar": map[string]any{"list": []any{map[string]any{"pagePath": "pages/x/x", "text": "x"}}}})}, 85045},
		{"a tabBar item without pagePath", map[string]any{"ext_json": ext(AppBakery, map[string]any{"tabBar": map[string]any{"list": []any{map[string]any{"text": "首页"}}}})}, 85046},
		{"empty pages", map[string]any{"ext_json": ext(AppBakery, map[string]any{"pages": []string{}})}, 85047},
	} {
		t.Run(c.name, func(t *testing.T) { wantErr(t, commit(c.change), c.want) })
	}
	wantErr(t, e.get(AppBakery, "/wxa/get_page"), 86001) // none of those committed anything

	// Too large a package: 85044.
	big := e.draft(map[string]any{"user_version": "9.9.9", "size_kb": 4096})
	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": big}), 0)
	tpls := list(e.get("", "/wxa/gettemplatelist"), "template_list")
	wantErr(t, commit(map[string]any{"template_id": num(tpls[len(tpls)-1], "template_id")}), 85044)

	// A standard template takes only extAppid, ext and window.
	std := e.draft(map[string]any{"user_version": "2.0.0"})
	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": std, "template_type": 1}), 0)
	tpls = list(e.get("", "/wxa/gettemplatelist?template_type=1"), "template_list")
	stdID := num(tpls[0], "template_id")
	wantErr(t, commit(map[string]any{"template_id": stdID, "ext_json": ext(AppBakery, map[string]any{"pages": []string{"pages/index/index"}})}), 85013)

	// The good one, with template_id as a string (PowerWeChat) and an empty
	// extAppid as in WeChat's own example; then the real one.
	wantErr(t, commit(map[string]any{"template_id": fmt.Sprint(tid), "ext_json": `{"extAppid":"","ext":{}}`}), 0)
	wantErr(t, commit(map[string]any{"ext_json": ext(AppBakery, map[string]any{"pages": []string{"pages/shop/shop", "pages/index/index"},
		"tabBar": map[string]any{"list": []any{map[string]any{"pagePath": "pages/index/index", "text": "首页"}}}})}), 0)
	pages := e.get(AppBakery, "/wxa/get_page")["page_list"].([]any)
	if len(pages) != 2 || pages[0] != "pages/index/index" {
		t.Fatalf("page_list = %v", pages)
	}
	info := e.post(AppBakery, "/wxa/getversioninfo", map[string]any{})
	exp, _ := info["exp_info"].(map[string]any)
	if exp == nil || str(exp, "exp_version") != "1.0.0" || str(exp, "exp_desc") != "首版" || num(exp, "exp_time") == 0 || info["release_info"] != nil {
		t.Fatalf("getversioninfo = %v", info)
	}
	wantErr(t, e.post(AppBakery, "/wxa/getversioninfo", ""), 44002)

	// The QR code is a PNG image.
	resp, err := http.Get(e.srv.URL + "/wxa/get_qrcode?path=pages%2Findex%2Findex%3Fa%3D1&access_token=" + e.tokens[AppBakery])
	if err != nil {
		t.Fatal(err)
	}
	img, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
		t.Fatalf("get_qrcode Content-Type %q: %s", ct, img)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width < 100 {
		t.Fatalf("get_qrcode: not a PNG (%v) %v", err, cfg)
	}
}

// TestCommitPermission: without 开发管理 (18) the per-app APIs answer 61007,
// and a token of the wrong kind is refused before anything else.
func TestCommitPermission(t *testing.T) {
	e := newCodeEnv(t)
	e.authorizeApp(AppHotPot, []int{17, 19})
	tid := e.template("1.0.0")
	wantErr(t, e.post(AppHotPot, "/wxa/commit", map[string]any{"template_id": tid, "ext_json": ext(AppHotPot, nil),
		"user_version": "1.0.0", "user_desc": "x"}), 61007)
	wantErr(t, e.get(AppHotPot, "/wxa/get_category"), 61007)
	wantErr(t, e.post("", "/wxa/commit", map[string]any{}), 61015) // the component token is no authorizer token

	e.authorizeApp(AppBakery, nil)
	cats := list(e.get(AppBakery, "/wxa/get_category"), "category_list")
	if len(cats) != 2 || str(cats[0], "first_class") != "餐饮" || str(cats[0], "second_class") != "烘焙甜品" || num(cats[0], "first_id") == 0 {
		t.Fatalf("get_category = %v", cats)
	}
}
