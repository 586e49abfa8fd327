package sandbox

import "net/http"

// codeRoutes registers the code-management APIs as emulated APIs (counted,
// fault-injectable, quota-limited like the others) and their control API.
// WeChat's GET APIs also take POST {} (docs/wechat-code.md); the POST ones
// answer GET with 43002 through the not-emulated handler, which knows them.
func (s *Sandbox) codeRoutes(mux *http.ServeMux, known map[string]bool) {
	post := map[string]apiFunc{
		"/wxa/addtotemplate":                   s.apiAddToTemplate,
		"/wxa/deletetemplate":                  s.apiDeleteTemplate,
		"/wxa/commit":                          s.apiCommit,
		"/wxa/submit_audit":                    s.apiSubmitAudit,
		"/wxa/get_auditstatus":                 s.apiAuditStatus,
		"/wxa/speedupaudit":                    s.apiSpeedupAudit,
		"/wxa/release":                         s.apiRelease,
		"/wxa/grayrelease":                     s.apiGrayRelease,
		"/wxa/change_visitstatus":              s.apiChangeVisitStatus,
		"/wxa/getversioninfo":                  s.apiVersionInfo,
		"/wxa/modify_domain":                   s.apiModifyDomain,
		"/wxa/setwebviewdomain":                s.apiWebviewDomain,
		"/wxa/bind_tester":                     s.apiBindTester,
		"/wxa/unbind_tester":                   s.apiUnbindTester,
		"/wxa/memberauth":                      s.apiMemberAuth,
		"/cgi-bin/component/setprivacysetting": s.apiSetPrivacy,
		"/cgi-bin/component/getprivacysetting": s.apiGetPrivacy,

		"/cgi-bin/component/modify_wxa_server_domain": s.apiModifyServerDomain,
		"/cgi-bin/component/modify_wxa_jump_domain":   s.apiModifyJumpDomain,
	}
	get := map[string]apiFunc{
		"/wxa/gettemplatedraftlist":   s.apiDraftList,
		"/wxa/gettemplatelist":        s.apiTemplateList,
		"/wxa/get_page":               s.apiGetPage,
		"/wxa/get_category":           s.apiGetCategory,
		"/wxa/get_latest_auditstatus": s.apiLatestAuditStatus,
		"/wxa/undocodeaudit":          s.apiUndoAudit,
		"/wxa/queryquota":             s.apiQueryQuota,
		"/wxa/revertcoderelease":      s.apiRevertRelease,
		"/wxa/revertgrayrelease":      s.apiRevertGrayRelease,
		"/wxa/getgrayreleaseplan":     s.apiGrayReleasePlan,
	}
	for path, h := range post {
		mux.HandleFunc("POST "+path, s.api(path, h))
		known[path] = true
	}
	for path, h := range get {
		mux.HandleFunc("GET "+path, s.api(path, h))
		mux.HandleFunc("POST "+path, s.api(path, h))
		known[path] = true
	}
	const qr = "/wxa/get_qrcode" // an image on success
	mux.HandleFunc("GET "+qr, s.imageRoute(qr, s.apiGetQRCode))
	mux.HandleFunc("POST "+qr, s.imageRoute(qr, s.apiGetQRCode))
	known[qr] = true

	mux.HandleFunc("POST /sandbox/api/drafts", s.handleAddDraft)
	mux.HandleFunc("POST /sandbox/api/wechat-users", s.handleAddWeChatUsers)
	mux.HandleFunc("POST /sandbox/api/components/{appid}/domains", s.handleSetPlatformDomains)
	mux.HandleFunc("POST /sandbox/api/apps/{appid}/suspend", s.handleSuspendApp)
	mux.HandleFunc("GET /sandbox/api/code-limits", s.handleGetCodeLimits)
	mux.HandleFunc("POST /sandbox/api/code-limits", s.handleSetCodeLimits)
	mux.HandleFunc("GET /sandbox/api/apps/{appid}/code", s.handleAppCode)
	mux.HandleFunc("GET /sandbox/api/code/apps", s.handleCodeApps)
	mux.HandleFunc("GET /sandbox/api/audit-rules", s.handleGetAuditRules)
	mux.HandleFunc("POST /sandbox/api/audit-rules", s.handleSetAuditRules)
}
