package sandbox

import "net/http"

// routes maps every path the sandbox serves. WeChat's hosts (api.weixin.qq.com,
// mp.weixin.qq.com, open.weixin.qq.com) all point at this one handler, so
// paths are host-independent.
func (s *Sandbox) routes() *http.ServeMux {
	mux := http.NewServeMux()

	// Emulated WeChat APIs: counted, fault-injectable, WeChat's error shape.
	apis := map[string]apiFunc{
		"/cgi-bin/component/api_component_token":       s.apiComponentToken,
		"/cgi-bin/component/api_start_push_ticket":     s.apiStartPushTicket,
		"/cgi-bin/component/api_create_preauthcode":    s.apiCreatePreAuthCode,
		"/cgi-bin/component/api_query_auth":            s.apiQueryAuth,
		"/cgi-bin/component/api_authorizer_token":      s.apiAuthorizerToken,
		"/cgi-bin/component/api_get_authorizer_info":   s.apiGetAuthorizerInfo,
		"/cgi-bin/component/api_get_authorizer_list":   s.apiGetAuthorizerList,
		"/cgi-bin/message/custom/send":                 s.apiCustomSend,
		"/cgi-bin/component/clear_quota":               s.apiClearComponentQuota,
		"/cgi-bin/component/clear_quota/v2":            s.apiClearQuotaV2,
		"/cgi-bin/clear_quota":                         s.apiClearAuthorizerQuota,
		"/cgi-bin/openapi/quota/get":                   s.apiQuotaGet,
		"/cgi-bin/component/api_get_authorizer_option": s.apiGetAuthorizerOption,
		"/cgi-bin/component/api_set_authorizer_option": s.apiSetAuthorizerOption,
		"/cgi-bin/component/get_authorizer_option":     s.apiGetOwnOption,
		"/cgi-bin/component/set_authorizer_option":     s.apiSetOwnOption,
	}
	known := map[string]bool{}
	for path, h := range apis {
		mux.HandleFunc("POST "+path, s.api(path, h))
		known[path] = true
	}
	s.codeRoutes(mux, known) // code_routes.go
	s.capRoutes(mux, known)  // below
	s.cardRoutes(mux, known) // cards.go, wifi.go
	// WeChat documents jscode2session as GET; POST with the same query is
	// taken too, as on the code-management reads.
	mux.HandleFunc("GET "+pathJSCode2Session, s.api(pathJSCode2Session, s.apiJSCode2Session))
	mux.HandleFunc("POST "+pathJSCode2Session, s.api(pathJSCode2Session, s.apiJSCode2Session))
	known[pathJSCode2Session] = true
	s.apiPaths = known
	mux.HandleFunc("/cgi-bin/", s.apiNotEmulated(known))
	mux.HandleFunc("/wxa/", s.apiNotEmulated(known))
	mux.HandleFunc("/wxaapi/", s.apiNotEmulated(known))
	mux.HandleFunc("/sns/", s.apiNotEmulated(known)) // jscode2session and friends live here
	mux.HandleFunc("/card/", s.apiNotEmulated(known))
	mux.HandleFunc("/bizwifi/", s.apiNotEmulated(known))

	s.payRoutes(mux) // pay.go: the WeChat Pay host (api.mch.weixin.qq.com) and its control API

	// Authorization pages: PC, H5, and the older H5 path.
	for _, p := range []string{pathLoginPage, pathBindComponent, pathBindOld} {
		mux.HandleFunc("GET "+p, s.handleAuthPage)
		mux.HandleFunc("POST "+p, s.handleAuthPage)
	}

	// Static assets.
	mux.HandleFunc("GET /sandbox/static/icons/{file}", s.handleIcon)
	mux.HandleFunc("GET /sandbox/static/qrcode/{file}", s.handleQRCode)

	// Control API.
	mux.HandleFunc("GET /sandbox/api/apps", s.handleListApps)
	mux.HandleFunc("GET /sandbox/api/apps/{appid}", s.handleGetApp)
	mux.HandleFunc("POST /sandbox/api/apps/bulk", s.handleBulk)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/unauthorize", s.handleUnauthorize)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/messages", s.handleUserMessage) // the older name of user-message
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/user-message", s.handleUserMessage)
	mux.HandleFunc("GET /sandbox/api/apps/{appid}/user-messages", s.handleUserMessages)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/subscribe", s.handleSubscribe)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/subscribe-settings", s.handleSubscribeSettings)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/login-code", s.handleLoginCode) // login.go
	mux.HandleFunc("POST /sandbox/api/authorize", s.handleControlAuthorize)
	mux.HandleFunc("GET /sandbox/api/outbox", s.handleOutbox)
	mux.HandleFunc("POST /sandbox/api/ticket", s.handleTicket)
	mux.HandleFunc("GET /sandbox/api/components", s.handleComponents)
	mux.HandleFunc("GET /sandbox/api/clock", s.handleGetClock)
	mux.HandleFunc("POST /sandbox/api/clock", s.decidingAfter(s.handleSetClock)) // audits then due are decided
	mux.HandleFunc("GET /sandbox/api/faults", s.handleListFaults)
	mux.HandleFunc("POST /sandbox/api/faults", s.handleAddFault)
	mux.HandleFunc("DELETE /sandbox/api/faults", s.handleClearFaults)
	mux.HandleFunc("GET /sandbox/api/calls", s.handleCalls)
	mux.HandleFunc("DELETE /sandbox/api/calls", s.handleResetCalls)
	mux.HandleFunc("GET /sandbox/api/pushes", s.handlePushes)
	mux.HandleFunc("GET /sandbox/api/quotas", s.handleQuotas)
	mux.HandleFunc("GET /sandbox/api/ip-whitelist", s.handleGetWhitelist)
	mux.HandleFunc("POST /sandbox/api/ip-whitelist", s.handleSetWhitelist)
	mux.HandleFunc("POST /sandbox/api/quotas", s.handleSetQuota)
	mux.HandleFunc("POST /sandbox/api/release-check", s.handleReleaseCheck)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/cards/{card_id}/review", s.handleReviewCard) // cards_review.go

	// Human pages.
	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("GET /sandbox/{$}", s.handleHome)
	mux.HandleFunc("GET /sandbox", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/sandbox/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("POST /sandbox/ui/ticket", s.handleUITicket)
	mux.HandleFunc("POST /sandbox/ui/clock", s.decidingAfter(s.handleUIClock))
	mux.HandleFunc("POST /sandbox/ui/message", s.handleUIMessage)
	mux.HandleFunc("POST /sandbox/ui/unauthorize", s.handleUIUnauthorize)
	mux.HandleFunc("POST /sandbox/ui/release-check", s.handleUIReleaseCheck)
	// WeChat's people (ui_sim.go, ui_review.go): a user of one app, the reviewers.
	mux.HandleFunc("GET /sandbox/user", s.handleUserPage)
	mux.HandleFunc("POST /sandbox/ui/user/message", s.handleUIUserMessage)
	mux.HandleFunc("POST /sandbox/ui/user/subscribe", s.handleUIUserSubscribe)
	mux.HandleFunc("POST /sandbox/ui/user/subscribe-settings", s.handleUIUserSubscribeSettings)
	mux.HandleFunc("POST /sandbox/ui/user/card", s.handleUIUserCard)
	mux.HandleFunc("POST /sandbox/ui/user/pay", s.handleUIUserPay)
	mux.HandleFunc("GET /sandbox/review", s.handleReviewPage)
	mux.HandleFunc("POST /sandbox/ui/review/applyment", s.handleUIReviewApplyment)
	mux.HandleFunc("POST /sandbox/ui/review/card", s.handleUIReviewCard)
	mux.HandleFunc("POST /sandbox/ui/pay/bind", s.handleUIPayBind)
	// The control API answers with every app's refresh token; nothing sent
	// as a WeChat API call may reach it (see controlOnly).
	outer := http.NewServeMux()
	outer.Handle("/sandbox/", controlOnly(mux))
	outer.Handle("/", mux)
	return outer
}

// controlOnly refuses a request for the sandbox's own pages and control API
// that carries a WeChat token: it came through a platform's WeChat calls (a
// forwarded path such as …/wechat/sandbox/api/apps/{appid}), not from the
// operator or a test driving the sandbox. WeChat has no such API, and neither
// does the sandbox when called as WeChat.
func controlOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("access_token") || q.Has("component_access_token") || q.Has("authorizer_access_token") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errcode":48001,"errmsg":"api unauthorized: the sandbox control API is not a WeChat API"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// capRoutes registers the customer-service and subscribe-message APIs
// (custom_media.go, subscribe.go) as emulated APIs. The newtmpl reads are
// GET only, as WeChat documents them.
func (s *Sandbox) capRoutes(mux *http.ServeMux, known map[string]bool) {
	post := map[string]apiFunc{
		"/cgi-bin/message/custom/business/typing": s.apiTyping,
		"/cgi-bin/message/custom/typing":          s.apiTyping,
		"/cgi-bin/message/subscribe/send":         s.apiSubSend,
		"/wxaapi/newtmpl/addtemplate":             s.apiSubAdd,
		"/wxaapi/newtmpl/deltemplate":             s.apiSubDelete,
	}
	get := map[string]apiFunc{
		"/wxaapi/newtmpl/getcategory":            s.apiSubCategories,
		"/wxaapi/newtmpl/getpubtemplatetitles":   s.apiSubTitles,
		"/wxaapi/newtmpl/getpubtemplatekeywords": s.apiSubKeywords,
		"/wxaapi/newtmpl/gettemplate":            s.apiSubList,
	}
	for path, h := range post {
		mux.HandleFunc("POST "+path, s.api(path, h))
		known[path] = true
	}
	for path, h := range get {
		mux.HandleFunc("GET "+path, s.api(path, h))
		known[path] = true
	}
	const upload = "/cgi-bin/media/upload" // a file: more than the 1 MiB of JSON APIs
	mux.HandleFunc("POST "+upload, s.apiLimit(upload, mediaUploadLimit, 40009, s.apiMediaUpload))
	known[upload] = true
}
