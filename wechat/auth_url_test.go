package wechat

import "testing"

func TestAuthURLs(t *testing.T) {
	c := New(Options{})
	sandbox := New(Options{Hosts: SingleHost("http://127.0.0.1:8081/")})
	tests := []struct {
		name               string
		c                  *Client
		appid, code, redir string
		authType           int
		biz                string
		pc, h5             string
	}{
		{
			name: "everything", c: c, appid: "wxcomp", code: "preauthcode@@@abc",
			redir: "https://platform.example/wx/authorized?merchant=m 1&x=é", authType: 2, biz: "wxmini",
			pc: "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=wxcomp&pre_auth_code=preauthcode%40%40%40abc" +
				"&redirect_uri=https%3A%2F%2Fplatform.example%2Fwx%2Fauthorized%3Fmerchant%3Dm+1%26x%3D%C3%A9&auth_type=2&biz_appid=wxmini",
			h5: "https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid=wxcomp&pre_auth_code=preauthcode%40%40%40abc" +
				"&redirect_uri=https%3A%2F%2Fplatform.example%2Fwx%2Fauthorized%3Fmerchant%3Dm+1%26x%3D%C3%A9&auth_type=2&biz_appid=wxmini#wechat_redirect",
		},
		{
			name: "auth_type and biz_appid omitted", c: c, appid: "wxcomp", code: "P", redir: "https://p.example/cb",
			pc: "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=wxcomp&pre_auth_code=P&redirect_uri=https%3A%2F%2Fp.example%2Fcb",
			h5: "https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid=wxcomp&pre_auth_code=P&redirect_uri=https%3A%2F%2Fp.example%2Fcb#wechat_redirect",
		},
		{
			name: "only biz_appid", c: c, appid: "wxcomp", code: "P", redir: "https://p.example/cb", biz: "wxoa",
			pc: "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=wxcomp&pre_auth_code=P&redirect_uri=https%3A%2F%2Fp.example%2Fcb&biz_appid=wxoa",
			h5: "https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid=wxcomp&pre_auth_code=P&redirect_uri=https%3A%2F%2Fp.example%2Fcb&biz_appid=wxoa#wechat_redirect",
		},
		{
			name: "sandbox host", c: sandbox, appid: "wxcomp", code: "P", redir: "http://localhost/cb", authType: AuthTypeBoth,
			pc: "http://127.0.0.1:8081/cgi-bin/componentloginpage?component_appid=wxcomp&pre_auth_code=P&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&auth_type=3",
			h5: "http://127.0.0.1:8081/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid=wxcomp&pre_auth_code=P&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&auth_type=3#wechat_redirect",
		},
	}
	for _, tt := range tests {
		if got := tt.c.PCAuthURL(tt.appid, tt.code, tt.redir, tt.authType, tt.biz); got != tt.pc {
			t.Errorf("%s: PCAuthURL\n got %s\nwant %s", tt.name, got, tt.pc)
		}
		if got := tt.c.H5AuthURL(tt.appid, tt.code, tt.redir, tt.authType, tt.biz); got != tt.h5 {
			t.Errorf("%s: H5AuthURL\n got %s\nwant %s", tt.name, got, tt.h5)
		}
	}
}
