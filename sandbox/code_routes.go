package sandbox

import "net/http"

// codeRoutes registers the code-management APIs as emulated APIs (counted,
// fault-injectable, quota-limited like the others) and their control API.
// WeChat's GET APIs also take POST {} (docs/wechat-code.md); the POST ones
// answer GET with 43002 through the not-emulated handler, which knows them.
func (s *Sandbox) codeRoutes(mux *http.ServeMux, known map[string]bool) {
	post := map[string]apiFunc{
		"/wxa/addtotemplate":  s.apiAddToTemplate,
		"/wxa/deletetemplate": s.apiDeleteTemplate,
	}
	get := map[string]apiFunc{
		"/wxa/gettemplatedraftlist": s.apiDraftList,
		"/wxa/gettemplatelist":      s.apiTemplateList,
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

	mux.HandleFunc("POST /sandbox/api/drafts", s.handleAddDraft)
	mux.HandleFunc("GET /sandbox/api/code-limits", s.handleGetCodeLimits)
	mux.HandleFunc("POST /sandbox/api/code-limits", s.handleSetCodeLimits)
}
