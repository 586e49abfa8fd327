package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet"
)

// The console's WeChat API call: what POST and GET /api/v1/authorizers/
// {appid}/wechat/{path...} forward, as a form on the authorizer's page — the
// escape hatch for a WeChat API the platform has no typed call for. The same
// path rules, the same token choice (keeper.ForwardSource), the same client;
// only owners and operators, and every call is in the audit log with its
// path (never its body, which may carry anything).

const (
	wechatCallBodyCap = 64 << 10 // the form: a JSON body and a query
	wechatCallShowCap = 64 << 10 // what of WeChat's answer the page shows
)

// wechatCallExamples are paths offered in the form's list, each answered by
// an authorizer's token (docs/wechat-code.md, docs/wechat-capabilities.md).
var wechatCallExamples = []struct{ Method, Path, Body string }{
	{"GET", "/wxa/get_category", ""},
	{"GET", "/wxa/get_page", ""},
	{"GET", "/wxa/get_latest_auditstatus", ""},
	{"POST", "/wxa/getversioninfo", "{}"},
	{"GET", "/wxa/getgrayreleaseplan", ""},
	{"GET", "/wxa/queryquota", ""},
	{"POST", "/wxa/memberauth", `{"action":"get_experiencer"}`},
	{"POST", "/wxa/modify_domain", `{"action":"get"}`},
	{"GET", "/wxaapi/newtmpl/gettemplate", ""},
}

func (s *Server) wechatCallRoutes(mux *http.ServeMux) {
	s.page(mux, "GET /authorizers/{appid}/wechat/call", OperatorRead(), s.wechatCallPage)
	s.pageCap(mux, "POST /authorizers/{appid}/wechat/call", StaffWrite("wechat.forward"), wechatCallBodyCap, s.wechatCallForm)
}

// wechatCall is the form and, once sent, WeChat's answer.
type wechatCall struct {
	Method, Path, Query, Body string
	Err                       string // refused before WeChat answered
	Sent                      bool
	Status                    int
	ContentType               string
	HasErrcode                bool // the answer carried WeChat's errcode
	Errcode                   int64
	Errmsg                    string
	Answer                    string       // the answer as text (JSON indented), capped
	Truncated                 bool         // more than wechatCallShowCap bytes came back
	Image                     template.URL // an image answer (get_qrcode), as a data: URL
	Bytes                     int
}

func (s *Server) wechatCallPage(w http.ResponseWriter, r *http.Request) {
	s.renderWechatCall(w, r, http.StatusOK, nil, wechatCall{Method: http.MethodGet, Path: r.URL.Query().Get("path")})
}

// renderWechatCall shows the form and c's answer for the app a (nil: read
// it here).
func (s *Server) renderWechatCall(w http.ResponseWriter, r *http.Request, status int, a *wxfleet.Authorizer, c wechatCall) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	if a == nil {
		if a, err = s.Store.Authorizer(r.Context(), comp, r.PathValue("appid")); err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/authorizers")
			return
		}
	}
	s.render(w, r, status, "wechat_call", map[string]any{
		"Title": "调用微信接口 Call a WeChat API", "Platform": comp, "A": toAuthorizerJSON(a, s.Now(), false), "C": c,
		"Examples": wechatCallExamples, "Path": "/authorizers/" + url.PathEscape(a.AppID) + "/wechat/call" + platformQuery(comp),
	})
}

// wechatCallForm checks the form as the API's route checks a forward, sends
// it and shows WeChat's answer as it came (status, errcode, body).
func (s *Server) wechatCallForm(w http.ResponseWriter, r *http.Request) {
	c := wechatCall{
		Method: strings.ToUpper(strings.TrimSpace(r.PostFormValue("method"))),
		Path:   strings.TrimSpace(r.PostFormValue("path")),
		Query:  strings.TrimSpace(r.PostFormValue("query")),
		Body:   strings.TrimSpace(r.PostFormValue("body")),
	}
	refuse := func(a *wxfleet.Authorizer, err error) {
		auditSkip(r)
		c.Err = wxfleet.ErrorMessage(err)
		s.renderWechatCall(w, r, statusOfErr(err), a, c)
	}
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	query, body, err := c.check()
	if err != nil {
		refuse(nil, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	a, resp, err := s.forwardFor(ctx, r, comp, r.PathValue("appid"), c.Method, c.Path, query, body)
	if a == nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	if err != nil {
		refuse(a, err)
		return
	}
	c.Sent, c.Status, c.ContentType, c.Bytes = true, resp.Status, resp.ContentType, len(resp.Body)
	c.show(resp.Body)
	s.renderWechatCall(w, r, http.StatusOK, a, c)
}

// check is the form's input as a forward: a method WeChat's APIs use, a path
// the API's route would take, a query without the token, and for a POST a
// JSON body (WeChat's APIs take JSON; media uploads are the API's to send).
func (c *wechatCall) check() (url.Values, []byte, error) {
	if c.Method != http.MethodGet && c.Method != http.MethodPost {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "方法只能是 GET 或 POST / the method is GET or POST")
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "路径要以 / 开头，例如 /wxa/get_category / the path starts with /, e.g. /wxa/get_category")
	}
	if strings.ContainsAny(c.Path, "?#%\\\x00 ") {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "路径不能含 ? # %% \\ 或空格；查询参数填在下一栏 / the path must not contain ? # %% \\ or spaces: put the query in its own field")
	}
	if err := checkForwardSegments(c.Path); err != nil {
		return nil, nil, err
	}
	query, err := url.ParseQuery(strings.TrimPrefix(c.Query, "?"))
	if err != nil {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "查询参数写成 a=1&b=2 / write the query as a=1&b=2: %v", err)
	}
	if _, ok := query["access_token"]; ok {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "不要填 access_token：平台会带上这个小程序的令牌 / leave access_token out: the platform adds this mini program's token")
	}
	if c.Method == http.MethodGet {
		if c.Body != "" {
			return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "GET 请求不带请求体；要发 JSON 请选 POST / a GET carries no body: choose POST to send JSON")
		}
		return query, nil, nil
	}
	if c.Body == "" {
		c.Body = "{}"
	}
	if !json.Valid([]byte(c.Body)) {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "请求体不是合法的 JSON / the body is not valid JSON")
	}
	return query, []byte(c.Body), nil
}

// show keeps WeChat's answer for the page: an image as itself, JSON
// indented with its errcode picked out, other text as it came, each capped.
func (c *wechatCall) show(body []byte) {
	ct := strings.ToLower(c.ContentType)
	if strings.HasPrefix(ct, "image/") && len(body) <= 1<<20 {
		mt, _, _ := strings.Cut(ct, ";")
		c.Image = template.URL("data:" + strings.TrimSpace(mt) + ";base64," + base64.StdEncoding.EncodeToString(body))
		return
	}
	var probe struct {
		Errcode *int64 `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	if json.Unmarshal(body, &probe) == nil {
		if probe.Errcode != nil {
			c.HasErrcode, c.Errcode = true, *probe.Errcode
		}
		c.Errmsg = probe.Errmsg
		var out bytes.Buffer
		if json.Indent(&out, body, "", "  ") == nil {
			body = out.Bytes()
		}
	}
	if len(body) > wechatCallShowCap {
		body, c.Truncated = body[:wechatCallShowCap], true
		for i := 0; i < utf8.UTFMax-1 && len(body) > 0 && !utf8.Valid(body); i++ { // not in the middle of a character
			body = body[:len(body)-1]
		}
	}
	if !utf8.Valid(body) {
		c.Answer = "(" + http.DetectContentType(body) + ")"
		return
	}
	c.Answer = string(body)
}
