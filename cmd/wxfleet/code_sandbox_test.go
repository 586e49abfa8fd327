package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/sandbox"
	"github.com/wxfleet/wxfleet/wechat"
)

// TestCodeClientAgainstSandbox drives the platform's code-management client
// (wechat/code.go) against the sandbox's emulation of WeChat: two
// independent implementations of docs/wechat-code.md must agree. Draft →
// template → commit → submit → decided → release → a second version →
// rollback, with the errcodes a platform acts on.
func TestCodeClientAgainstSandbox(t *testing.T) {
	const appid, secret = "wxc0de00000000c0de", "code-crosscheck-secret"
	sb, err := sandbox.New(sandbox.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Components: []sandbox.Component{{AppID: appid, Secret: secret, Token: "crosscheck",
			AESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", AuthDomain: "*"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); sb.Close() })
	ctx := context.Background()
	wc := wechat.New(wechat.Options{Hosts: wechat.SingleHost(srv.URL), Retries: -1})
	control := func(method, path string, in, out any) {
		t.Helper()
		data, _ := json.Marshal(in)
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(data))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, body)
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantCode := func(err error, code int) {
		t.Helper()
		var we *wechat.Error
		if !errors.As(err, &we) || we.Code != code {
			t.Fatalf("err = %v, want WeChat errcode %d", err, code)
		}
	}

	// The platform's token, an authorized mini program and its token.
	var ticket struct {
		Ticket string `json:"ticket"`
	}
	control("POST", "/sandbox/api/ticket", map[string]string{}, &ticket)
	ct, err := wc.ComponentToken(ctx, appid, secret, ticket.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	cts := wechat.StaticToken(ct.Token)
	pre, err := wc.CreatePreAuthCode(ctx, cts, appid)
	if err != nil {
		t.Fatal(err)
	}
	link := "https://mp.weixin.qq.com/cgi-bin/componentloginpage?" + url.Values{"component_appid": {appid},
		"pre_auth_code": {pre.Code}, "redirect_uri": {"https://platform.example/authorized"}}.Encode()
	var redirect struct {
		RedirectURL string `json:"redirect_url"`
	}
	control("POST", "/sandbox/api/authorize", map[string]any{"url": link, "appid": sandbox.AppBakery}, &redirect)
	ru, _ := url.Parse(redirect.RedirectURL)
	auth, err := wc.QueryAuth(ctx, cts, appid, ru.Query().Get("auth_code"))
	if err != nil {
		t.Fatal(err)
	}
	ats := wechat.StaticToken(auth.AccessToken)
	control("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1h"}, nil)

	// Template library.
	for _, v := range []string{"1.0.0", "1.1.0"} {
		control("POST", "/sandbox/api/drafts", map[string]any{"user_version": v, "user_desc": "版本 " + v,
			"pages": []string{"pages/index/index", "pages/menu/menu"}}, nil)
	}
	drafts, err := wc.Drafts(ctx, cts)
	if err != nil || len(drafts) != 2 || drafts[1].UserVersion != "1.1.0" {
		t.Fatalf("Drafts = %+v, %v", drafts, err)
	}
	wantCode(wc.AddToTemplate(ctx, cts, 424242, wechat.TemplateNormal), wechat.CodeTemplateNotFound)
	for _, d := range drafts {
		if err := wc.AddToTemplate(ctx, cts, d.DraftID, wechat.TemplateNormal); err != nil {
			t.Fatal(err)
		}
	}
	tpls, err := wc.Templates(ctx, cts, wechat.TemplateNormal)
	if err != nil || len(tpls) != 2 || tpls[0].DraftID != drafts[0].DraftID || tpls[0].UserDesc != "版本 1.0.0" {
		t.Fatalf("Templates = %+v, %v", tpls, err)
	}

	release := func(tpl wechat.Template) {
		t.Helper()
		ext := `{"extAppid":"` + sandbox.AppBakery + `","ext":{"shop":"麦香坊"},"pages":["pages/index/index","pages/menu/menu"]}`
		if err := wc.Commit(ctx, ats, wechat.CommitRequest{TemplateID: tpl.TemplateID, ExtJSON: ext,
			UserVersion: tpl.UserVersion, UserDesc: tpl.UserDesc}); err != nil {
			t.Fatal(err)
		}
		id, err := wc.SubmitAudit(ctx, ats, wechat.SubmitAuditRequest{VersionDesc: "上线 " + tpl.UserVersion,
			ItemList: []wechat.AuditItem{{Address: "pages/index/index", Tag: "烘焙", Title: "首页"}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = wc.SubmitAudit(ctx, ats, wechat.SubmitAuditRequest{})
		wantCode(err, wechat.CodeAuditInProgress)
		st, err := wc.AuditStatusOf(ctx, ats, id)
		if err != nil || st.Status != wechat.AuditPending || st.AuditID != id {
			t.Fatalf("AuditStatusOf = %+v, %v", st, err)
		}
		wantCode(wc.Release(ctx, ats), wechat.CodeAuditNotReleasing)
		control("POST", "/sandbox/api/clock", map[string]string{"advance": "61m"}, nil)
		latest, err := wc.LatestAuditStatus(ctx, ats)
		if err != nil || latest.AuditID != id || latest.Status != wechat.AuditApproved || latest.UserVersion != tpl.UserVersion {
			t.Fatalf("LatestAuditStatus = %+v, %v", latest, err)
		}
		if err := wc.Release(ctx, ats); err != nil {
			t.Fatal(err)
		}
		wantCode(wc.Release(ctx, ats), wechat.CodeAlreadyReleased)
	}
	wantCode(wc.Commit(ctx, ats, wechat.CommitRequest{TemplateID: 999, ExtJSON: "{}", UserVersion: "x", UserDesc: "x"}), 85014)
	release(tpls[0])

	pages, err := wc.Pages(ctx, ats)
	if err != nil || len(pages) != 2 {
		t.Fatalf("Pages = %v, %v", pages, err)
	}
	img, ctype, err := wc.QRCode(ctx, ats, "pages/menu/menu?table=7")
	if err != nil || !strings.HasPrefix(ctype, "image/png") {
		t.Fatalf("QRCode: %q, %v", ctype, err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("QRCode is not a PNG: %v", err)
	}
	cats, err := wc.Categories(ctx, ats)
	if err != nil || len(cats) == 0 || cats[0].FirstClass == "" {
		t.Fatalf("Categories = %+v, %v", cats, err)
	}
	q, err := wc.AuditQuota(ctx, ats)
	if err != nil || q.Limit == 0 || q.Rest != q.Limit-1 {
		t.Fatalf("AuditQuota = %+v, %v", q, err)
	}

	// The tokens live two hours: fetch fresh ones, as the platform would.
	control("POST", "/sandbox/api/clock", map[string]string{"advance": "70m"}, nil)
	control("POST", "/sandbox/api/ticket", map[string]string{}, &ticket)
	if ct, err = wc.ComponentToken(ctx, appid, secret, ticket.Ticket); err != nil {
		t.Fatal(err)
	}
	cts = wechat.StaticToken(ct.Token)
	at, err := wc.AuthorizerToken(ctx, cts, appid, sandbox.AppBakery, auth.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	ats = wechat.StaticToken(at.AccessToken)

	// A second version through a gray release, then back to the first.
	wantCode(wc.RevertRelease(ctx, ats, 0), wechat.CodeCannotRollBack)
	release(tpls[1])
	v, err := wc.Versions(ctx, ats)
	if err != nil || v.Release == nil || v.Release.Version != "1.1.0" || v.Exp == nil || v.Exp.Version != "1.1.0" {
		t.Fatalf("Versions = %+v, %v", v, err)
	}
	hist, err := wc.ReleaseHistory(ctx, ats)
	if err != nil || len(hist) != 1 || hist[0].UserVersion != "1.0.0" {
		t.Fatalf("ReleaseHistory = %+v, %v", hist, err)
	}
	if err := wc.RevertRelease(ctx, ats, 0); err != nil {
		t.Fatal(err)
	}
	if v, err = wc.Versions(ctx, ats); err != nil || v.Release.Version != "1.0.0" {
		t.Fatalf("after rollback: %+v, %v", v.Release, err)
	}
	wantCode(wc.RevertRelease(ctx, ats, 0), wechat.CodeCannotRollBack)
	if err := wc.RevertRelease(ctx, ats, hist[0].AppVersion+1); err != nil { // 1.1.0 is in the history now
		t.Fatal(err)
	}
	plan, err := wc.GrayReleasePlanOf(ctx, ats)
	if err != nil || plan.Status != 0 {
		t.Fatalf("GrayReleasePlanOf = %+v, %v", plan, err)
	}
	users, err := wc.Testers(ctx, ats)
	if err != nil || len(users) != 0 {
		t.Fatalf("Testers = %v, %v", users, err)
	}
	if err := wc.SetPrivacy(ctx, ats, wechat.PrivacySetting{OwnerSetting: wechat.PrivacyOwner{ContactPhone: "13800000000",
		NoticeMethod: "弹窗"}, SettingList: []wechat.PrivacyElement{{PrivacyKey: "UserInfo", PrivacyText: "登录"}}}); err != nil {
		t.Fatal(err)
	}
	if p, err := wc.Privacy(ctx, ats, 2); err != nil || len(p.SettingList) != 1 || p.SettingList[0].PrivacyLabel == "" {
		t.Fatalf("Privacy = %+v, %v", p, err)
	}
	var code struct {
		Counts struct {
			Commits, Submits, Releases, Rollbacks int
		} `json:"counts"`
	}
	control("GET", "/sandbox/api/apps/"+sandbox.AppBakery+"/code", nil, &code)
	if c := code.Counts; c.Commits != 2 || c.Submits != 2 || c.Releases != 2 || c.Rollbacks != 2 {
		t.Fatalf("counts = %+v", c)
	}
}
