package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/tenant"
)

// The console's authorizer list shows the total on its first page, where it
// is counted, and no total (rather than a wrong one) on the pages after.
func TestAuthorizersPageTotalOnFirstPage(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	ctx := context.Background()
	for i := range 3 {
		if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: fmt.Sprintf("wxapp%d", i),
			Status: wxfleet.StatusAuthorized, Nickname: fmt.Sprintf("门店 %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, session := ts.signIn("ops@isv.example", testPassword)
	if session == "" {
		t.Fatal("no session")
	}
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.url+path, nil)
		req.Header.Set("Cookie", session)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	first := get("/authorizers")
	if !strings.Contains(first, `共 total <span id="authorizers-total">3</span>`) || !strings.Contains(first, "门店 0") {
		t.Fatalf("first page without its total:\n%s", first)
	}
	later := get("/authorizers?cursor=wxapp0")
	if strings.Contains(later, "共 total") || strings.Contains(later, "门店 0") || !strings.Contains(later, "门店 1") {
		t.Fatalf("a later page:\n%s", later)
	}
}

// TestAuthorizersPageFilters: the authorizers page finds an app by appid,
// by part of its name, by tag, status and tenant, keeps the filters on the
// next page's link, and refuses a bad filter in words.
func TestAuthorizersPageFilters(t *testing.T) { storetest.Run(t, testAuthorizersPageFilters) }

func testAuthorizersPageFilters(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	tn, err := ts.tenants().Create(ctx, wxfleet.Scope{}, tenant.CreateRequest{Name: "甲店"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		a := &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: fmt.Sprintf("wxapp%02d", i), Status: wxfleet.StatusAuthorized,
			Nickname: fmt.Sprintf("门店 %02d", i), PrincipalName: "连锁有限公司"}
		switch {
		case i == 7:
			a.Nickname = "兰州拉面 Noodles"
		case i%10 == 5:
			a.Status = wxfleet.StatusReauthorizationNeeded
		}
		if err := ts.st.UpsertAuthorizer(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.st.SetAuthorizerTags(ctx, testPlatform, "wxapp11", []string{"north"}); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.SetAuthorizerTenant(ctx, wxfleet.Scope{}, testPlatform, "wxapp12", tn.ID); err != nil {
		t.Fatal(err)
	}
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, session := ts.signIn("ops@isv.example", testPassword)
	rowRE := regexp.MustCompile(`<tr data-appid="(wx[a-z0-9]+)">`)
	rows := func(path string) ([]string, string) {
		t.Helper()
		st, page := ts.call("GET", path, nil, "Cookie", session)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d", path, st)
		}
		var out []string
		for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out, page
	}
	for path, want := range map[string]string{
		"/authorizers?q=wxapp33":                     "[wxapp33]",
		"/authorizers?q=noodles":                     "[wxapp07]",
		"/authorizers?q=" + url.QueryEscape("拉面"):    "[wxapp07]",
		"/authorizers?tag=north":                     "[wxapp11]",
		"/authorizers?tenant_id=" + itoa(tn.ID):      "[wxapp12]",
		"/authorizers?status=reauthorization_needed": "[wxapp05 wxapp15 wxapp25 wxapp35 wxapp45 wxapp55]",
		"/authorizers?q=nothing-like-it":             "[]",
	} {
		got, page := rows(path)
		if fmt.Sprint(got) != want {
			t.Errorf("%s lists %v, want %s", path, got, want)
		}
		if !strings.Contains(page, "清除筛选") {
			t.Errorf("%s: no link to clear the filters", path)
		}
	}
	if _, page := rows("/authorizers?status=reauthorization_needed"); !strings.Contains(page, `<option value="reauthorization_needed" selected>`) {
		t.Error("the status filter's choice is not kept")
	}
	// A full page of a filtered list links its next page with the filter.
	first, page := rows("/authorizers?q=" + url.QueryEscape("有限公司"))
	next := regexp.MustCompile(`id="authorizers-next" href="([^"]+)"`).FindStringSubmatch(page)
	if len(first) != 50 || next == nil {
		t.Fatalf("q=有限公司: %d rows, next link %v", len(first), next)
	}
	nextURL := strings.ReplaceAll(next[1], "&amp;", "&")
	if !strings.Contains(nextURL, "q=") {
		t.Errorf("the next page's link drops the search: %s", nextURL)
	}
	second, _ := rows("/authorizers" + nextURL)
	if len(second) != 10 || second[0] != "wxapp50" {
		t.Errorf("the next page: %v", second)
	}
	if st, page := ts.call("GET", "/authorizers?status=nonsense", nil, "Cookie", session); st != http.StatusBadRequest || !strings.Contains(page, "未知的授权状态") {
		t.Errorf("a bad status: %d", st)
	}
	// The API takes the same filters.
	st, body := ts.call("GET", "/api/v1/authorizers?q=noodles", nil, "Authorization", "Bearer "+testAdminToken)
	if st != http.StatusOK || !strings.Contains(body, `"wxapp07"`) || strings.Contains(body, `"wxapp08"`) {
		t.Errorf("API q=noodles: %d %s", st, body)
	}
	if st, _ := ts.call("GET", "/api/v1/authorizers?q="+strings.Repeat("x", 65), nil, "Authorization", "Bearer "+testAdminToken); st != http.StatusBadRequest {
		t.Errorf("API q of 65 characters: %d, want 400", st)
	}
}
