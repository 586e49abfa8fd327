package wechat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"
)

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("body %q is not JSON: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

const authorizerInfoMini = `{"authorizer_info":{
   "nick_name":"微信SDK Demo Special","head_img":"http://wx.qlogo.cn/mmopen/x",
   "service_type_info":{"id":0},"verify_type_info":{"id":-1},
   "user_name":"gh_eb5e3a772040","alias":"paytest01","qrcode_url":"http://mmbiz.qpic.cn/q",
   "business_info":{"open_pay":0,"open_shake":0,"open_scan":0,"open_card":0,"open_store":0},
   "principal_name":"腾讯计算机系统有限公司","signature":"sig",
   "account_status":1,"register_type":0,
   "basic_config":{"is_phone_configured":true,"is_email_configured":true},
   "MiniProgramInfo":{"network":{"RequestDomain":["https://a.example"],"WsRequestDomain":[],"UploadDomain":[],
        "DownloadDomain":[],"BizDomain":[],"UDPDomain":[]},
      "categories":[{"first":"工具","second":"效率"}],"visit_status":0}},
 "authorization_info":{"authorizer_appid":"wxauth","authorizer_refresh_token":"rtok",
   "func_info":[{"funcscope_category":{"id":17}},{"funcscope_category":{"id":18}}]}}`

// TestComponentCalls checks each call's method, path, query and body against
// the wire reference, and what it makes of the answer.
func TestComponentCalls(t *testing.T) {
	ctok := StaticToken("CTOK")
	tests := []struct {
		name      string
		call      func(c *Client) (any, error)
		path      string
		wantToken string // component_access_token in the query; "" for none
		wantBody  string
		answer    string
		check     func(t *testing.T, got any)
	}{
		{
			name: "ComponentToken",
			call: func(c *Client) (any, error) {
				return c.ComponentToken(context.Background(), "wxcomp", "appsecret", "ticket@@@x")
			},
			path:     "/cgi-bin/component/api_component_token",
			wantBody: `{"component_appid":"wxcomp","component_appsecret":"appsecret","component_verify_ticket":"ticket@@@x"}`,
			answer:   `{"component_access_token":"61W3mEpU","expires_in":7200}`,
			check: func(t *testing.T, got any) {
				if r := got.(*ComponentTokenResp); *r != (ComponentTokenResp{Token: "61W3mEpU", ExpiresIn: 7200}) {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			name: "StartPushTicket",
			call: func(c *Client) (any, error) {
				return nil, c.StartPushTicket(context.Background(), "wxcomp", "appsecret")
			},
			path:     "/cgi-bin/component/api_start_push_ticket",
			wantBody: `{"component_appid":"wxcomp","component_secret":"appsecret"}`,
			answer:   `{"errcode":0,"errmsg":"ok"}`,
		},
		{
			name: "CreatePreAuthCode",
			call: func(c *Client) (any, error) {
				return c.CreatePreAuthCode(context.Background(), ctok, "wxcomp")
			},
			path:      "/cgi-bin/component/api_create_preauthcode",
			wantToken: "CTOK",
			wantBody:  `{"component_appid":"wxcomp"}`,
			answer:    `{"pre_auth_code":"preauthcode@@@abc","expires_in":600}`,
			check: func(t *testing.T, got any) {
				if r := got.(*PreAuthCode); *r != (PreAuthCode{Code: "preauthcode@@@abc", ExpiresIn: 600}) {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			name: "QueryAuth",
			call: func(c *Client) (any, error) {
				return c.QueryAuth(context.Background(), ctok, "wxcomp", "queryauthcode@@@q")
			},
			path:      "/cgi-bin/component/api_query_auth",
			wantToken: "CTOK",
			wantBody:  `{"component_appid":"wxcomp","authorization_code":"queryauthcode@@@q"}`,
			answer: `{"authorization_info":{"authorizer_appid":"wxf8b4f85f3a794e77","authorizer_access_token":"ATOK","expires_in":7200,
				"authorizer_refresh_token":"RTOK","func_info":[{"funcscope_category":{"id":1}},{"funcscope_category":{"id":2}},
				{"funcscope_category":{"id":18},"confirm_info":{"need_confirm":0,"already_confirm":0,"can_confirm":0}}]}}`,
			check: func(t *testing.T, got any) {
				r := got.(*AuthorizationInfo)
				if r.AuthorizerAppID != "wxf8b4f85f3a794e77" || r.AccessToken != "ATOK" || r.ExpiresIn != 7200 || r.RefreshToken != "RTOK" {
					t.Errorf("got %+v", r)
				}
				if p := r.Permissions(); !equal(p, []int{1, 2, 18}) {
					t.Errorf("Permissions() = %v", p)
				}
				if r.FuncInfo[2].ConfirmInfo == nil || r.FuncInfo[0].ConfirmInfo != nil {
					t.Errorf("confirm_info not decoded: %+v", r.FuncInfo)
				}
			},
		},
		{
			name: "AuthorizerToken",
			call: func(c *Client) (any, error) {
				return c.AuthorizerToken(context.Background(), ctok, "wxcomp", "wxauth", "RTOK")
			},
			path:      "/cgi-bin/component/api_authorizer_token",
			wantToken: "CTOK",
			wantBody:  `{"component_appid":"wxcomp","authorizer_appid":"wxauth","authorizer_refresh_token":"RTOK"}`,
			answer:    `{"authorizer_access_token":"ATOK2","expires_in":7200,"authorizer_refresh_token":"RTOK"}`,
			check: func(t *testing.T, got any) {
				if r := got.(*AuthorizerTokenResp); *r != (AuthorizerTokenResp{AccessToken: "ATOK2", ExpiresIn: 7200, RefreshToken: "RTOK"}) {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			name: "GetAuthorizerInfo",
			call: func(c *Client) (any, error) {
				return c.GetAuthorizerInfo(context.Background(), ctok, "wxcomp", "wxauth")
			},
			path:      "/cgi-bin/component/api_get_authorizer_info",
			wantToken: "CTOK",
			wantBody:  `{"component_appid":"wxcomp","authorizer_appid":"wxauth"}`,
			answer:    authorizerInfoMini,
			check: func(t *testing.T, got any) {
				r := got.(*AuthorizerInfoResp)
				a := r.AuthorizerInfo
				if a.NickName != "微信SDK Demo Special" || a.HeadImg != "http://wx.qlogo.cn/mmopen/x" || a.UserName != "gh_eb5e3a772040" ||
					a.PrincipalName != "腾讯计算机系统有限公司" || a.Signature != "sig" || a.Alias != "paytest01" ||
					a.QRCodeURL != "http://mmbiz.qpic.cn/q" || a.ServiceTypeInfo.ID != 0 || a.VerifyTypeInfo.ID != -1 {
					t.Errorf("authorizer_info decoded as %+v", a)
				}
				if !r.IsMiniProgram() {
					t.Fatal("IsMiniProgram() = false with MiniProgramInfo present")
				}
				mp := a.MiniProgramInfo
				if len(mp.Categories) != 1 || mp.Categories[0] != (MiniProgramCategory{"工具", "效率"}) ||
					!equal(mp.Network.RequestDomain, []string{"https://a.example"}) || mp.Network.UDPDomain == nil {
					t.Errorf("MiniProgramInfo decoded as %+v", mp)
				}
				var whole struct {
					AuthorizerInfo json.RawMessage `json:"authorizer_info"`
				}
				json.Unmarshal([]byte(authorizerInfoMini), &whole)
				if !jsonEqual(t, r.Raw, string(whole.AuthorizerInfo)) {
					t.Errorf("Raw = %s", r.Raw)
				}
				ai := r.AuthorizationInfo
				if ai.AuthorizerAppID != "wxauth" || ai.RefreshToken != "rtok" || !equal(ai.Permissions(), []int{17, 18}) {
					t.Errorf("authorization_info decoded as %+v", ai)
				}
			},
		},
		{
			name: "GetAuthorizerList",
			call: func(c *Client) (any, error) {
				return c.GetAuthorizerList(context.Background(), ctok, "wxcomp", 100, 500)
			},
			path:      "/cgi-bin/component/api_get_authorizer_list",
			wantToken: "CTOK",
			wantBody:  `{"component_appid":"wxcomp","offset":100,"count":500}`,
			answer:    `{"total_count":33,"list":[{"authorizer_appid":"wxa","refresh_token":"ra","auth_time":1558000607},{"authorizer_appid":"wxb","refresh_token":"rb","auth_time":1558000608}]}`,
			check: func(t *testing.T, got any) {
				r := got.(*AuthorizerList)
				want := AuthorizerList{TotalCount: 33, List: []AuthorizerListItem{{"wxa", "ra", 1558000607}, {"wxb", "rb", 1558000608}}}
				if !reflect.DeepEqual(*r, want) {
					t.Errorf("got %+v, want %+v", *r, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				io.WriteString(w, tt.answer)
			})
			c, _, _ := newClient(f.srv.URL, Options{})
			got, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != tt.path {
				t.Errorf("request %s %s, want POST %s", r.Method, r.Path, tt.path)
			}
			wantQuery := map[string][]string{}
			if tt.wantToken != "" {
				wantQuery["component_access_token"] = []string{tt.wantToken}
			}
			if !reflect.DeepEqual(map[string][]string(r.Query), wantQuery) {
				t.Errorf("query %v, want %v", r.Query, wantQuery)
			}
			if r.ContentType != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", r.ContentType)
			}
			if !jsonEqual(t, r.Body, tt.wantBody) {
				t.Errorf("body %s, want %s", r.Body, tt.wantBody)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestOfficialAccountIsNotMiniProgram(t *testing.T) {
	f := newFake(t, answer(`{"authorizer_info":{"nick_name":"公众号","service_type_info":{"id":2},"verify_type_info":{"id":0},"user_name":"gh_1"},
		"authorization_info":{"authorizer_appid":"wxoa","func_info":[{"funcscope_category":{"id":1}}]}}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	r, err := c.GetAuthorizerInfo(context.Background(), StaticToken("CTOK"), "wxcomp", "wxoa")
	if err != nil {
		t.Fatal(err)
	}
	if r.IsMiniProgram() || r.AuthorizerInfo.ServiceTypeInfo.ID != 2 {
		t.Errorf("official account read as %+v", r.AuthorizerInfo)
	}
}

func TestPermissionsDeduplicated(t *testing.T) {
	a := AuthorizationInfo{FuncInfo: []FuncInfo{
		{FuncscopeCategory: FuncscopeCategory{ID: 18}},
		{FuncscopeCategory: FuncscopeCategory{ID: 17}},
		{FuncscopeCategory: FuncscopeCategory{ID: 18}},
	}}
	if got := a.Permissions(); !equal(got, []int{18, 17}) {
		t.Errorf("Permissions() = %v, want [18 17]", got)
	}
	if got := (AuthorizationInfo{}).Permissions(); len(got) != 0 {
		t.Errorf("empty Permissions() = %v", got)
	}
}
