// Package sandbox is an offline emulator of WeChat's side of a third-party
// platform (第三方平台): the component and authorizer token APIs, the
// authorization pages, the encrypted pushes to the platform, customer-service
// messages (客服消息) and the automated 全网发布 release check. wxfleet's
// platform talks to it exactly as it would talk to WeChat; the platform
// points api.weixin.qq.com, mp.weixin.qq.com and open.weixin.qq.com at the
// sandbox's one base URL, so every path here is host-independent.
//
// The sandbox imports nothing of the platform but wxcrypt: two independent
// implementations of the wire format keep each other honest. The facts about
// WeChat it relies on, with their sources, are in docs/wechat-sandbox.md.
//
// # Clocks
//
// The sandbox clock is Config.Now() plus an offset that POST
// /sandbox/api/clock moves. Every expiry uses it: tickets 12 h, component and
// authorizer access tokens 7200 s (a superseded token keeps working 5 more
// minutes), pre_auth_code 600 s, authorization codes 3600 s, the 48 h
// customer-service window. Everything the sandbox sends to the platform
// (query timestamp, CreateTime, AuthorizationCodeExpiredTime) is stamped with
// the wall clock, because the platform compares it with its own clock. State
// older than 48 h on the sandbox clock is forgotten. Moving the clock
// forward by TicketInterval or more simulates the time in between: the
// component_verify_ticket WeChat would have pushed last is pushed to every
// component before the clock call answers, so that after {"advance":"49h"}
// the platform's ticket is valid and it can fetch the tokens that expired
// meanwhile (the earlier pushes are not replayed: their tickets would be
// superseded or expired, and a platform keeps the latest).
//
// # Emulated WeChat APIs
//
// All are POST with a JSON body and answer HTTP 200, errors as
// {"errcode":N,"errmsg":"<english> rid: <hex>-<hex>-<hex>"}. Token APIs take
// the component token as ?component_access_token= or ?access_token=.
//
//	/cgi-bin/component/api_component_token      41018/61011/40013 appid, 41004/40125 component_appsecret, 61006/61005 ticket
//	/cgi-bin/component/api_start_push_ticket    41018, component_secret (or component_appsecret) 41004/40125; pushes a ticket soon after
//	/cgi-bin/component/api_create_preauthcode   41001 missing, 40001 invalid, 42001 expired token
//	/cgi-bin/component/api_query_auth           61009 unknown, 61010 expired code; not single-use (see below)
//	/cgi-bin/component/api_authorizer_token     rotates the refresh token on every call; 61023, 61003
//	/cgi-bin/component/api_get_authorizer_info  MiniProgramInfo only for mini programs; 61003
//	/cgi-bin/component/api_get_authorizer_list  count > 500 → 40170
//	/cgi-bin/component/api_get_authorizer_option {authorizer_appid, option_name} → {authorizer_appid, option_name, option_value}; 61003, 61012
//	/cgi-bin/component/api_set_authorizer_option {authorizer_appid, option_name, option_value}; 61012, 61013 (a string, else 47001)
//	/cgi-bin/component/get_authorizer_option     ?access_token=<authorizer token> {option_name} → {option_name, option_value}
//	/cgi-bin/component/set_authorizer_option     ?access_token=<authorizer token> {option_name, option_value}
//	/cgi-bin/openapi/quota/get                   either token {cgi_path} → {errcode 0, errmsg, quota {daily_limit, used, remain}}; 76021, 76022
//	/cgi-bin/message/custom/send                ?access_token=<authorizer token>; 40003, 40008, 45015, 47001, 61007
//	/sns/component/jscode2session               GET (POST taken too), no body: see Mini-program login
//
// An empty body is 44002, malformed JSON 47001, a known API with another
// method 43002. The token-taking APIs of the component family answer 41018
// when the body lacks component_appid, 61011 when it names another
// component.
//
// # Tokens
//
// Every path under /cgi-bin/, /wxa/ and /sns/, emulated or not, checks its
// token first (after injected faults, before the method, the body, the IP
// whitelist and the quota), all answered with HTTP 200 (tokens.go):
//
//	no token                                  41001 access_token missing
//	a token the sandbox never issued           40001 invalid credential
//	superseded more than 5 minutes ago         40001
//	expired (7200 s)                           42001 access_token expired
//	authorizer token on a component API        61014 must use component token for component api
//	component token on an authorizer's API     61015 must use biz account token for not component api
//
// Component APIs read ?component_access_token= or ?access_token=;
// authorizer APIs only ?access_token= (?component_access_token=<authorizer
// token> there is 41001). 61014 and 61015 are the codes of WeChat's global
// errcode table and WxJava's WxOpenErrorMsgEnum for the wrong kind; the
// template library, the component APIs and the per-app APIs all use them
// (earlier versions answered 40001 on the component and per-app APIs).
// Which kind an API takes is listed in apiTokens; a path the sandbox does
// not emulate takes either kind, since the sandbox cannot know which one
// it wants, except the few that take a secret instead (/cgi-bin/token,
// /cgi-bin/stable_token, /cgi-bin/clear_quota/v2, /sns/jscode2session (the
// self-run variant, with the app's secret),
// /sns/oauth2/access_token and refresh_token), which ask for none. Only a
// call whose token passes gets HTTP 404 {"errcode":-1,"errmsg":"system
// error: api not emulated by the wxfleet sandbox: <path>"}: a sandbox
// choice, not WeChat behaviour, so that a missing emulation is never
// mistaken for a platform bug. So the platform's refresh-and-retry on
// 40001/42001 can be tried on any path.
//
// # Mini-program login
//
// POST /sandbox/api/apps/{appid}/login-code plays wx.login inside a mini
// program: a code valid five minutes on the sandbox clock, exchangeable
// once. GET /sns/component/jscode2session?appid=&js_code=&grant_type=
// authorization_code&component_appid=&component_access_token= exchanges it
// as WeChat does (login.go): the token first (see Tokens; a component
// token, also as ?access_token=), then component_appid 41018 missing /
// 61011 not the token's, appid 41002 missing / 40013 unknown / 61003 not
// authorized to the component, grant_type 40002 missing or not
// authorization_code, js_code 41008 missing / 40029 unknown, another app's
// or older than five minutes / 40163 used; then {"openid","session_key"}
// and "unionid" only when the login code was made with one. The IP
// whitelist applies (61004), calls are counted and take faults and quotas
// like the other APIs (the subject of a call is the query's appid). Codes
// are kept (sealed, with their session_key) in the state until 48 h old.
// Sources: docs/wechat-runtime.md — 40029 and 40163 from WxJava's
// WxMaErrorMsgEnum and WeChat's quoted answers, 61003 from WxJava's
// WxOpenErrorMsgEnum, the missing-parameter codes from the global table
// (their use here is the sandbox's choice: no source says which one
// jscode2session answers). 45011 (a user's login rate) and 40226 (risky
// user) are not emulated.
//
// # Authorization pages
//
// GET /cgi-bin/componentloginpage (PC), /wxaopen/safe/bindcomponent (H5) and
// /safe/bindcomponent (older H5) show the platform's name, a simulated QR
// code, the accounts the admin may pick (auth_type 1 official accounts, 2
// mini programs, otherwise both; biz_appid restricts to one and wins) as
// radio buttons name="appid", the permission sets as checkboxes name="func",
// and <button id="confirm">. POST to the same path confirms: the account is
// authorized, authorized (or updateauthorized) is pushed in the background,
// and the browser is redirected to redirect_uri with
// auth_code=…&expires_in=3600 appended. Invalid links render an error page
// with HTTP 400, WeChat's wording first. As on WeChat, redirect_uri must be on
// the platform's 授权发起页域名 (Component.AuthDomain; by default the host of
// the platform URL, no check when that is 0.0.0.0 or ::; the loopback names
// count as one), and so must the page
// the admin came from (Referer; an origin-only one, what browsers send
// across origins, is enough). As on WeChat, a page opened without a
// Referer (a link pasted into the address bar, opened from a chat or a
// tool) is refused with WeChat's text "…授权入口页所在域名：空；授权发起页域名：
// <domain>", the usual first-day failure of a real platform: the platform
// must link to the page from its own entry page (wxfleet's is /authorize).
// The page's own form posting back passes. Tools go in through POST
// /sandbox/api/authorize, which checks everything but the Referer. A
// component with no domain to compare (AuthDomain "*", a platform on
// 0.0.0.0 or ::) is not checked. Source: WeChat's page text, as quoted in
// issue 15 and by developers on WeChat's forum.
//
// # Pushes
//
// Pushes are encrypted with the component's token, EncodingAESKey and appid
// and posted to {PlatformURL}/wechat/component (ticket, authorized,
// updateauthorized, unauthorized) or {PlatformURL}/wechat/apps/{appid} (user
// messages, with &openid=). The authorization event URL must answer 200
// "success", the message URL 200 with anything; otherwise the push is retried
// three times with the identical body. Run pushes a component_verify_ticket at
// start and every TicketInterval.
//
// # Control API
//
// JSON under /sandbox/api/, no authentication (a local test double), errors
// {"error":"..."} with a 4xx status.
//
//	GET    /sandbox/api/apps                      {"items":[{"appid","nickname","user_name","principal_name","head_img","is_mini_program","categories":[{"first","second"}]}]}
//	GET    /sandbox/api/apps/{appid}              the item plus "alias","signature","service_type","hidden",
//	                                              "authorizations":[{"component_appid","authorized","authorizer_refresh_token","authorizer_access_token",
//	                                                "authorizer_access_token_expires_at","func_info":[ids],"authorized_at","revoked_at"}],
//	                                              "authorized","authorizer_refresh_token" (first component),"default_openid","openids":[...]
//	POST   /sandbox/api/apps/bulk                 {"count":N,"authorize":bool,"component_appid"?,"func_info":[ids]?} (1 ≤ N ≤ 100000)
//	                                              → {"appids":[...],"created","authorized","push_failures","create_ms","authorize_ms"}
//	POST   /sandbox/api/authorize                 {"url","appid","func":[ids]?} → {"redirect_url"}; as the page's confirm
//	POST   /sandbox/api/apps/{appid}/unauthorize  {"component_appid"?} → {"ok":true,"status":<platform HTTP status>}; pushes unauthorized synchronously
//	POST   /sandbox/api/apps/{appid}/login-code   {"openid"?,"unionid"?} → {"code","openid","session_key","expires_in":300}: wx.login in that mini
//	                                              program; the same openid is the same user, none given a new one; 404 unknown app, 400 official account
//	POST   /sandbox/api/apps/{appid}/messages     {"openid"?,"content"} or {"openid"?,"event":"user_enter_tempsession","session_from"?}, "component_appid"?
//	                                              → {"openid","msg_id","status","reply","reply_plain"?,"error"?}
//	GET    /sandbox/api/outbox?appid=             {"items":[{"component_appid","appid","touser","msgtype","content","body","at"}]}
//	POST   /sandbox/api/ticket                    {"component_appid"?} → {"ticket","status","ok","error"?}; synchronous
//	GET    /sandbox/api/components                {"items":[{"component_appid","name","platform_url","auth_domain","latest_ticket","ticket_issued_at"}]}
//	GET    /sandbox/api/clock                     {"now":RFC3339,"offset":"2h0m0s"}
//	POST   /sandbox/api/clock                     {"advance":"2h"} or {"reset":true} → same as GET
//	POST   /sandbox/api/faults                    {"path","errcode"?,"rate"?,"latency"?,"count"?,"appids"?,"lose_answer"?} → the fault with "id","errmsg","fired"
//	GET    /sandbox/api/faults                    {"items":[fault...]}
//	DELETE /sandbox/api/faults                    {"ok":true}
//	GET    /sandbox/api/calls                     {"items":[{"path","errcode","count"}],"calls":{"<path>":N},"in_flight":{"<path>":N}}; ?path= filters the items
//	GET    /sandbox/api/calls?path=P&by=appid     {"items":[{"appid","errcode","count"}]}: calls of P per authorizer
//	DELETE /sandbox/api/calls                     resets both
//	GET    /sandbox/api/pushes?limit=             {"items":[{"id","kind","component_appid","appid","event","url","at","done","ok","attempts","status","reply","error"}]} newest first
//	GET    /sandbox/api/ip-whitelist?component_appid=  {"component_appid","ips":[...]}
//	POST   /sandbox/api/ip-whitelist              {"component_appid"?,"ips":["203.0.113.7","10.0.0.0/8"]} ([] accepts any address) → the same
//	GET    /sandbox/api/quotas                    {"limits":{"<path>":N},"defaults":{"<path>":N},"used":[{"account","path","period","count"}],"resets":[{"account","period","count"}]}
//	POST   /sandbox/api/quotas                    {"path" or "*","daily_limit"} (0: no limit) or {"path","reset":true} (the default) → {"path","daily_limit"}
//	POST   /sandbox/api/release-check             {"component_appid"?,"appid"?} → {"passed","appid","component_appid","cases":[{"name","passed","detail"}]}
//
// # IP whitelist
//
// A component with a whitelist (白名单IP地址列表) gets 61004 on its
// component APIs (/cgi-bin/component/… and jscode2session) from any other
// address, as on WeChat. None is set by default, so that the demo works from anywhere.
//
// # Quotas
//
// Every emulated API call counts against its caller's daily quota (the
// component for component APIs, the mini program for its own), per API, over
// a day in Beijing time on the sandbox clock; over the limit WeChat answers
// 45009. The limits sources give are on by default: api_component_token
// 10000 a day, message/custom/send 500000 (docs/wechat-component.md, "Daily
// quotas"); WeChat publishes none for the other APIs, which are counted but
// not limited until POST /sandbox/api/quotas sets one (a guessed figure
// would fail a healthy fleet: 100,000 authorizers need over a million
// api_authorizer_token calls a day). /cgi-bin/openapi/quota/get answers the
// same counts: daily_limit 0 and remain 0 where there is no limit, as
// WeChat's example does. A refused call is not counted. clear_quota
// (/cgi-bin/component/clear_quota with the component token,
// /cgi-bin/component/clear_quota/v2 with the secret and optionally an
// authorizer's appid, /cgi-bin/clear_quota with an authorizer token) resets
// an account's counts, ten times a month at most (then 48006). POST
// /sandbox/api/quotas {"path","daily_limit"} sets a limit (0: none; "path":
// "*" every API), {"path","reset":true} brings back the default. Limits and
// counts are kept in the state file.
//
// A fault's rate defaults to 1 (always) and count to 0 (unlimited). A
// lose_answer fault lets the call be carried out and then closes the
// connection without an answer: WeChat acted, its answer was lost, and the
// caller cannot tell this from a call that never arrived (the case a
// platform must settle by asking, not by calling again). A latency fault
// whose caller leaves first carries nothing out. in_flight counts the calls
// being served (held by a latency fault, say). Faults
// apply before any validation and live in memory only, as do call counts and
// the push log. A fault with appids fires only for calls about those
// authorizers: the authorizer_appid of the body (api_authorizer_token,
// api_get_authorizer_info), the app an authorization_code was issued for
// (api_query_auth), else the app whose authorizer_access_token is in the
// query. Calls are counted by path and errcode, and by path, authorizer
// and errcode for calls about an authorizer.
//
// # Bulk
//
// POST /sandbox/api/apps/bulk makes N mini programs (appids "wx" and 16
// random hex digits, a shop's nickname and principal, categories, a
// MiniProgramInfo) in one transaction. With "authorize" it authorizes each
// to the component (default the first configured) with func_info (default
// every mini-program set) as an admin confirming a link would: a grant,
// tokens, an authorization code, and the encrypted authorized push to the
// authorization event URL, at most 32 pushes in flight, each retried three
// times like any push. "authorized" counts the grants whose push the
// platform acknowledged, "push_failures" the others (still authorized on
// WeChat's side, as api_get_authorizer_list shows). Bulk accounts are listed
// and usable like the seeded ones but not offered on authorization pages
// unless biz_appid names one; the home page lists the first 200 accounts.
//
// # Strictness
//
// On input the sandbox is as strict as WeChat, so that a platform bug shows
// here first; each rule's source is in docs/wechat-sandbox.md.
//
//   - Required fields come before anything else but the token: no
//     component_appid in the JSON body → 41018 on every component API
//     (api_component_token, api_start_push_ticket, api_create_preauthcode,
//     api_query_auth, api_authorizer_token, api_get_authorizer_info,
//     api_get_authorizer_list, clear_quota, clear_quota/v2); no secret → 41004.
//     Source: WeChat's global return-code table.
//   - api_component_token reads the secret only as component_appsecret;
//     component_secret is api_start_push_ticket's name for it. Source: Open
//     Platform docs and WxJava.
//   - Parameters in the query string are not read as if they were in the body:
//     the query carries only the token.
//   - A pre_auth_code authorizes one account: confirming it for another
//     account shows WeChat's "预授权码已经被授权过，不能重复使用"; the same
//     account may use it again. Source: WeChat's page message (issue 15).
//   - Authorization codes are not single-use (no source says they are, and
//     platforms exchange them twice); tickets work until they expire; refresh
//     tokens rotate on every refresh, stricter than WeChat on purpose.
//   - Every path under /cgi-bin/, /wxa/ and /sns/ checks its token first
//     (see Tokens); the authorization pages need a Referer on the
//     授权发起页域名 (see Authorization pages).
//
// # Bad-input table
//
// The tests drive every emulated API through the bad-input classes of issue
// 15: tokens_test.go the token classes (missing, bogus, expired, wrong kind)
// on every path, emulated or not; surface_test.go the component family,
// the option APIs, custom/send, clear_quota and quota/get (missing field,
// bogus, expired, reused, wrong kind, wrong method, empty body, malformed
// JSON); code_tokens_test.go the code-management APIs; strict_test.go the
// single-use pre_auth_code and the error texts. Each row names its source:
//
//	global                       WeChat's global return-code table (全局返回码说明): 40001, 40013, 41001, 41004,
//	                             41018, 42001, 43002, 44002, 47001, 61014, 61015, 45009, 48006
//	doc:api_component_token      the Open Platform page of api_component_token: 61004, 61005, 61006, 61011,
//	                             40013, 40125 (the same codes for api_start_push_ticket and the token APIs)
//	doc:api_authorizer_token     its page and WxJava's enum: 61023 refresh_token is invalid
//	doc:api_get_authorizer_list  its newer page: 40170 when count > 500
//	doc:clear_quota              the clear_quota pages: 40125, 48006
//	doc:get_api_quota            the getApiQuota page: 76021, 76022 (and daily_limit/used/remain)
//	doc:custom_send              the 客服消息 page: 40003, 40008, 45015, 47001; 45047 (WxJava's enum for the
//	                             meaning; the limit of 5 per user message is the stricter of two disagreeing sources)
//	doc:jscode2session           docs/wechat-runtime.md: 40029, 40163, 61003, 61004 (login_test.go)
//	wxjava                       WxJava's WxOpenErrorMsgEnum: 61003, 61009, 61010, 61012, 61013
//	issue15                      WeChat's page text quoted in issue 15: 预授权码已经被授权过，不能重复使用,
//	                             授权入口页所在域名：空
//	sandbox                      a sandbox choice, stricter than WeChat on purpose (refresh-token rotation)
//
// A missing authorization_code is 61009 and a missing refresh token 61023
// (the codes of a bogus one; no source names another), a missing
// option_value 61013, a missing cgi_path 76021.
//
// # Code management (代小程序开发)
//
// The template library and, per mini program, commit, audit, release,
// rollback and gray release, as docs/wechat-code.md describes them (code*.go).
// Their state is separate from the rest: {DataDir}/sandbox-code.db (SQLite,
// one row per draft, template, app, audit and one for the rules, limits and
// quota use), written in one transaction before each API answers. GET APIs
// also take POST {}; POST APIs answer GET with 43002. Every one is counted,
// takes injected faults and daily quotas like the other emulated APIs.
//
// The token is checked first on every path, before the body (see Tokens):
// missing 41001, unknown 40001, expired 42001, a component token on a
// per-app API 61015, an authorizer token on a template API 61014. Only
// ?access_token= is read on the per-app APIs. The per-app APIs then
// need permission set 18 (开发管理) granted to the platform: 61007. Then the
// body (44002 empty, 47001 malformed), then the required fields. Query
// parameters are never read as body fields, except memberauth's action (SKIT
// sends it in the query, WxJava in the body).
//
//	component token (?access_token= or ?component_access_token=):
//	GET  /wxa/gettemplatedraftlist    draft_list[] {draft_id, user_version, user_desc, create_time}
//	POST /wxa/addtotemplate           {draft_id, template_type 0|1}: 85064 unknown or missing draft, 85065 library full, 47001 other type
//	GET  /wxa/gettemplatelist         ?template_type=; template_list[] {template_id, draft_id, user_version, user_desc, create_time, template_type, source_miniprogram_appid, source_miniprogram, developer}
//	POST /wxa/deletetemplate          {template_id} a number or numeric string (PowerWeChat): 85064
//	authorizer token (?access_token=):
//	POST /wxa/commit                  {template_id, ext_json, user_version, user_desc}: see below
//	GET  /wxa/get_page                page_list[]; 86001 before any commit
//	GET  /wxa/get_qrcode              ?path=; a PNG image (Content-Type image/png); 86001 before any commit
//	GET  /wxa/get_category            category_list[] {first_class, second_class, first_id, second_id} of the account's categories
//	POST /wxa/submit_audit            {item_list?, version_desc?, ...} → {auditid}: 85086, 85009, 85023, 85010, 85007, 85006, 85011, 85085
//	POST /wxa/get_auditstatus         {auditid} → {status, reason?, screenshot?}; 85012 missing, unknown or another app's
//	GET  /wxa/get_latest_auditstatus  {auditid, status, reason?, ScreenShot?, screenshot?, user_version, user_desc, submit_audit_time}; 85012 before any
//	GET  /wxa/undocodeaudit           3 withdrawn; 85019 nothing under audit; 87013 beyond 5 a day, 10 a month; the quota is not refunded
//	POST /wxa/speedupaudit            {auditid}; either token (WeChat's reference says so); halves the time left; 85012; 85085 speed-ups used up
//	GET  /wxa/queryquota              {rest, limit, speedup_rest, speedup_limit} of the platform this month (Beijing time)
//	POST /wxa/release                 body {} (44002 empty, 47001 not an object): 85019 nothing approved, 85020 under audit, 85052 already released
//	GET  /wxa/revertcoderelease       back to the previous version; ?action=get_history_version → version_list[]; ?app_version=N (decides over action): 87011, 87012
//	POST /wxa/grayrelease             {gray_percentage, support_debuger_first?, support_experiencer_first?}: 85079, 85080, 85081, 85082
//	GET  /wxa/revertgrayrelease       the plan becomes 4 (deleted); nothing running: ok, no change
//	GET  /wxa/getgrayreleaseplan      gray_release_plan {status 0 none, 1 running, 3 finished, 4 deleted, create_timestamp, gray_percentage, support_*}
//	POST /wxa/change_visitstatus      {action open|close}: 85022 other action, 85021 nothing released
//	POST /wxa/getversioninfo          {} → exp_info, release_info (each absent when there is none)
//	POST /wxa/modify_domain           {action add|delete|set|get, requestdomain[], wsrequestdomain[], uploaddomain[], downloaddomain[], udpdomain[], tcpdomain[]}: 85022,
//	                                  85018 a domain not on the platform's server domains (or with another scheme than its list's: https, wss, https, https, udp, tcp),
//	                                  85017 an add that adds nothing, 85016 over 1000; no action copies the platform's domains to the app
//	POST /wxa/setwebviewdomain        {action, webviewdomain[]}: 85022, 89020 the platform has no business domain, 89021 a domain neither one of them nor under one,
//	                                  89019 no change, 89022 deleting an unknown one, 89029 over 100; no action copies the platform's
//	POST /wxa/bind_tester             {wechatid} → {userstr}: 85001 empty or a WeChat id the sandbox does not know, 85004 bound, 85002 over 100,
//	                                  85003 the user is a tester of tester_apps_limit mini programs already (all platforms)
//	POST /wxa/unbind_tester           {wechatid} or {userstr}: 47001 neither
//	POST /wxa/memberauth              {action: get_experiencer} → members[] {userstr}; 47001 other action
//	POST /cgi-bin/component/setprivacysetting  authorizer token despite the path (WxJava, SKIT); {privacy_ver 1|2 (default 2), owner_setting, setting_list}
//	POST /cgi-bin/component/getprivacysetting  {privacy_ver} → {code_exist, privacy_list, setting_list (with privacy_label), update_time, owner_setting, privacy_desc}
//	component token:
//	POST /cgi-bin/component/modify_wxa_server_domain  {action add|delete|set|get, wxa_server_domain "a.com;b.com"} → {published_wxa_server_domain, testing_wxa_server_domain,
//	                                  invalid_wxa_server_domain}: the platform's 小程序服务器域名 (bare host names; one list for published and testing); 85022, 47001 no or a non-string field
//	POST /cgi-bin/component/modify_wxa_jump_domain    {action, wxa_jump_h5_domain} → {published_wxa_jump_h5_domain, ...}: the platform's 小程序业务域名, the same way
//
// Commit checks, in this order: template_id (85014 missing, unknown or
// another platform's; a numeric string is taken, PowerWeChat sends one);
// ext_json is a JSON string field holding an object (85048 when absent, of
// another type, or not an object; WxJava: "ext_json必须是字符串类型");
// user_version present and not empty, user_desc present (47001: WeChat's
// reference marks both 必填 and names no code); then a standard template
// takes only extAppid, ext and window (85013); extAppid of another app or
// not a string 85013 (an empty extAppid is taken: WeChat's own example
// sends one); an empty pages 85047; a page in pages, extPages, tabBar.list
// or subpackages that the template lacks 85045 (ext_json cannot add pages);
// a tabBar item without pagePath 85046; a template larger than the package
// limit 85044. 85090 (commit throttling) and 85043 are not emulated: no
// source gives their rule.
//
// Where sources disagree or say nothing, the sandbox's choices:
// get_latest_auditstatus spells the screenshot both ways (WxJava reads
// screenshot, PowerWeChat and SKIT ScreenShot); undocodeaudit 5 a day and
// 10 a month (WxJava's errcode text; its older javadoc says 1 a day);
// release with an empty body is refused (WxJava posts {}, PowerWeChat posts
// nothing; the sandbox keeps to {}); a rejected or withdrawn latest audit
// is 85019 on release, one under audit 85020; grayrelease takes 0 only
// with a "first" flag (WeChat's reference; SKIT says 1–100); a gray release
// at 100% still needs release to finish; a rollback version is not rolled
// back again without app_version (87012), and the version it replaced goes
// into the history so that app_version can bring it back; the history keeps
// 5 versions; 86001 on get_page and get_qrcode before any commit and 85012
// on get_latest_auditstatus before any submission (no source says);
// submit_audit takes an empty item_list (current WeChat); categories are
// not checked against item_list (85008 not emulated); an app's server
// domain must be one of the platform's hosts exactly, a business domain one
// of its business domains or under one (docs/wechat-code.md "Settings a
// release depends on"); bind_tester knows the WeChat ids tester_li,
// tester_wang, tester_zhang, tester_zhao, tester_chen and those added with
// POST /sandbox/api/wechat-users (WeChat's 85001 for an id that does not
// exist; 85003 once the user is a tester of tester_apps_limit mini
// programs, 50 by default: no source gives WeChat's number); submit_audit answers 61040 when the committed code's privacy keys
// (the draft's privacy_keys) are not all in the development version's
// privacy guide, unless privacy_api_not_use is true, and 86007 for an app
// suspended with POST /sandbox/api/apps/{appid}/suspend (docs/wechat-code.md;
// which exact privacy check WeChat runs is not documented: the sandbox takes
// the plainest reading of 61040); while a version is in gray release,
// release and grayrelease of another version answer 87011 (WeChat's rule:
// no new version is released during a gray release, docs/wechat-code.md
// "Gray release rules"; the code is the sandbox's choice), as revertcoderelease
// does; a gray release still running 15 days after it began is released
// fully by the sandbox itself at that time on its clock (WeChat's rule):
// getgrayreleaseplan then says 3 (finished), getversioninfo's release_info
// is the gray version, release answers 85052 and revertgrayrelease has
// nothing to revert (no call is counted); the privacy guide needs notice_method and one contact (WeChat's reference
// marks them required; 47001 is the sandbox's code). The audit quota
// defaults to 10000 a month, speed-ups to 100, the template library to
// 100, the package limit to 2048 KB, a user's tester apps to 50 (WeChat
// gives no numbers; POST /sandbox/api/code-limits changes them).
//
// # Audit simulator
//
// Each submission is decided once its delay has passed on the sandbox
// clock, by the rules of POST /sandbox/api/audit-rules: a submission whose
// ext_json or version_desc contains a reject word, or one drawn at
// reject_rate, is rejected with a numbered Chinese reason joined by <br> and
// two screenshot media ids; one drawn at delay_rate is first delayed
// (status 4, weapp_audit_delay) for another delay; the rest are approved.
// Each decision is pushed, encrypted, to the app's message URL
// ({PlatformURL}/wechat/apps/{appid}, ToUserName the app's gh_ id):
// weapp_audit_success with SuccTime, weapp_audit_fail with Reason, FailTime
// and ScreenShot, weapp_audit_delay with Reason and DelayTime (those times
// on the sandbox clock, CreateTime on the wall clock), one app's in order,
// eight pushes at a time; lose_push_rate drops pushes, so a platform must
// poll. A ticker decides every 250 ms as real time passes; moving the clock
// decides everything then due before the clock call answers, each decision
// at its own due time (a delay and the decision after it both happen within
// one move); an API that reads an app's audit decides it first.
//
//	GET  /sandbox/api/audit-rules           {"delay":"5s","reject_rate":0,"reject_words":[],"delay_rate":0,"lose_push_rate":0}
//	POST /sandbox/api/audit-rules           the same, each field given replaces that rule
//	POST /sandbox/api/drafts                {"user_version","user_desc"?,"pages"?:["pages/index/index"],"size_kb"?:512,"privacy_keys"?,"component_appid"?} → {"draft_id"}
//	GET  /sandbox/api/code-limits           {"audit_quota","speedup_quota","template_limit","package_limit_kb","tester_apps_limit"}
//	POST /sandbox/api/code-limits           the same, each field given replaces that limit
//	GET  /sandbox/api/apps/{appid}/code     {"exp","auditing","latest_audit","released","gray","history","audits","visit_status",
//	                                          "counts":{"commits","submits","releases","gray_releases","rollbacks","undos","speedups"},"events","domains","webviewdomain","testers"}
//	GET  /sandbox/api/code/apps             {"items":[{"appid","counts","exp_version","released_version","audit_status"}]}
//	POST /sandbox/api/components/{appid}/domains  {"server":["api.example.com"],"jump":["example.com"]} → the same: the platform's registered domains (none at first)
//	POST /sandbox/api/wechat-users          {"wechatids":[...]} → {"wechatids":[every known one]}: WeChat users bind_tester accepts (6–20 letters, digits, _ or -, a letter first)
//	POST /sandbox/api/apps/{appid}/suspend  {"suspended":bool} → {"appid","suspended"}: WeChat bars (or lets again) the app's submissions (86007)
//
// # Customer service (客服消息) and subscribe messages (订阅消息)
//
// Sources: docs/wechat-capabilities.md, which names for each rule where it
// comes from (WeChat's 客服消息 and 订阅消息 reference pages, silenceper/wechat
// miniprogram/message and miniprogram/subscribe, binarywang/WxJava
// WxMaErrorMsgEnum, SKIT.FlurlHttpClient.Wechat for typing); the state lives
// in {DataDir}/sandbox-caps.db (caps.go). All take the authorizer token.
//
//	POST /cgi-bin/message/custom/send           also 40007 when image.media_id or miniprogrampage.thumb_media_id is not one of
//	                                            the app's temporary media (uploaded, or a user's image, < 3 days on the sandbox clock),
//	                                            checked after 40003/47001/40008 and before 45015
//	POST /cgi-bin/message/custom/business/typing {"touser","command":"Typing"|"CancelTyping"}: 40003, 45072 other command, 45080 Typing
//	                                            with no message either way in the last 30 s, 45081 Typing while typing (20 s, or until a
//	                                            message); /cgi-bin/message/custom/typing (the official accounts' path) is the same
//	POST /cgi-bin/media/upload?type=image        multipart part "media": 40004 type not image (mini programs upload only images),
//	                                            41005 no part / empty, 40005 not JPEG/PNG/GIF/BMP (content sniffed), 40009 over 10 MB
//	                                            → {"type":"image","media_id","created_at"}; valid 3 days
//	GET  /wxaapi/newtmpl/getcategory             {"data":[{"id","name"}]}: the sandbox's library has 3 categories (invented ids)
//	GET  /wxaapi/newtmpl/getpubtemplatetitles    ids (200018 missing, 200019 bad), start (200016), limit 1..30 (200017)
//	                                            → {"count","data":[{"tid","title","type","categoryId"}]}
//	GET  /wxaapi/newtmpl/getpubtemplatekeywords  tid (200014) → {"count","data":[{"kid","name","example","rule"}]}
//	POST /wxaapi/newtmpl/addtemplate             {"tid" (string or number),"kidList" 2..5 distinct kids of it (200020),
//	                                            "sceneDesc" ≤ 15 characters (200021)} → {"priTmplId"}; 25 per app (200012)
//	GET  /wxaapi/newtmpl/gettemplate             {"data":[{"priTmplId","title","content":"name:{{thing1.DATA}}\n…","example","type"}]}
//	POST /wxaapi/newtmpl/deltemplate             {"priTmplId"}; 40037 unknown; its consents go too
//	POST /cgi-bin/message/subscribe/send         {"touser","template_id","data":{"<rule><kid>":{"value"}},"page"?,"miniprogram_state"?,"lang"?}:
//	                                            47001 bad state/lang, 40003 a user who never wrote or subscribed, 40037 not the app's template,
//	                                            47003 a keyword missing or against its rule (thing ≤ 20, phrase ≤ 5, name ≤ 10, number,
//	                                            character_string ≤ 32, time, date, amount…), 41030 page not in the online version
//	                                            (checked only when there is one), 43101 no consent; → {"msgid"}
//
// A one-time template (type 2, 一次性订阅) grants one send per accept, and
// accepts add up; a send consumes one. A long-term one (type 3) stays on
// until refused. Every send that answers 0 is followed by a
// subscribe_msg_sent_event push (SubscribeMsgSentEvent/List: TemplateId,
// MsgID = the answered msgid, ErrorCode 0, ErrorStatus success), in the
// background. Source: WeChat's 小程序订阅消息 guide, 订阅消息事件推送 (mirrored
// in public repos), which says failures there are only asynchronous system
// failures; their codes are unverified and the sandbox reports none.
// custom/send allows 5 messages within 48 h of the user's last message
// and 2 within a minute of their entry into the session
// (customerServiceLimit, entryServiceLimit): 45047 beyond, 45015 once both
// windows are shut; subscribe/send never answers 45047. Source: WeChat's
// 发送客服消息 guide for mini programs and 客服消息 introduction for official
// accounts (developers.weixin.qq.com; the older rule of 20 is gone). The
// permission set of subscribe messages is not checked (its id is not in
// our sources); customer service needs 19 (mini programs) or 1.
//
//	POST /sandbox/api/apps/{appid}/user-message  {"openid"?,"msgtype":"text"|"image"|"miniprogrampage"|"event","content"?,
//	                                            "pic_url"?,"title"?,"pagepath"?,"thumb_url"?,"event"?,"session_from"?,"component_appid"?}
//	                                            → {"openid","msg_id","media_id"?,"status","reply","reply_plain"?,"error"?}; pushes the
//	                                            customer-service push, opens the user's 48 h window; /messages is its older name
//	POST /sandbox/api/apps/{appid}/subscribe     {"openid"?,"template_ids":[1..3],"accept"} → {"openid","status","error"?};
//	                                            pushes subscribe_msg_popup_event (List of TemplateId, SubscribeStatusString, PopupScene 0);
//	                                            a template the user turned off answers reject without asking (sandbox choice)
//	POST /sandbox/api/apps/{appid}/subscribe-settings {"openid"?,"template_ids":[...],"accept"} → {"openid","accept","pushed",
//	                                            "status"?,"reply"?,"error"?}: the user switches templates off (accept false: consents
//	                                            dropped, sends 43101, subscribe_msg_change_event pushed with List of TemplateId and
//	                                            SubscribeStatusString reject) or on again (nothing pushed — WeChat's page: 目前只推送取消
//	                                            订阅的事件 — and nothing granted: unverified, a sandbox choice). Source: the same guide.
//	GET  /sandbox/api/apps/{appid}/user-messages?openid=  {"items":[{"seq","direction":"in"|"out","via":"user"|"custom_send"|
//	                                            "subscribe_send"|"subscribe_popup"|"subscribe_settings","openid","msgtype","content","body"?,"at"}]}, oldest first,
//	                                            the last 500 per app
//
// # Cards and coupons (卡券), WeChat Wi-Fi (微信连Wi-Fi)
//
// Official-account capabilities (docs/wechat-cards-wifi.md), with their own
// state in {DataDir}/sandbox-cards.db. The permission model is the
// sandbox's: a mini program's authorizer token gets 48001 (these APIs are
// the official account's), an official account that did not grant 微信卡券权限
// (permission set 8) or 微信连WiFi权限 (10) gets 61007. The body is decoded
// before that check (44002 empty, 47001 malformed).
//
//	POST /card/create          {card:{card_type, <lower-case type>:{base_info, …}}} → {card_id}; see below
//	POST /card/get             {card_id} → card:{card_type, <type>:{base_info:{…, id, status}, …}}; 40073 unknown or another account's
//	POST /card/code/get        {code, card_id?, check_consume?} → {openid, can_consume, user_card_status, card:{card_id, begin_time, end_time, code}};
//	                           40056 unknown code; 40099 a consumed, 40127 an expired one unless check_consume is false
//	POST /card/code/consume    {code, card_id?} → {card:{card_id}, openid}; 40099 the second time, 40127 expired;
//	                           pushes user_consume_card (ConsumeSource FROM_API)
//	POST /card/code/decrypt    {encrypt_code} → {code}; 40075 not an encrypted code of the account
//	POST /bizwifi/shop/list    {pageindex, pagesize ≤ 20} → data:{totalcount, pageindex, pagecount, records[{shop_id, shop_name, ssid, ssid_list, ssid_password_list, protocol_type, sid}]}
//	POST /bizwifi/shop/get     {shop_id} → data:{shop_name, ssid, ssid_list, password, protocol_type, ap_count, …}
//	POST /bizwifi/device/add   {shop_id, ssid "WX…" ≤ 32 bytes, password 8–24}; a shop has one password network
//	POST /bizwifi/device/list  {pageindex, pagesize, shop_id?} → data:{…, records[{shop_id, ssid, bssid, protocol_type 4}]}
//	POST /bizwifi/device/delete {bssid}
//	POST /bizwifi/qrcode/get   {shop_id, ssid, img_id 0|1} → data:{qrcode_url}, a PNG the sandbox serves at /sandbox/static/bizwifi/{id}.png
//
// /card/create checks, in order: card_type present (41011) and one of
// MEMBER_CARD, GENERAL_COUPON, CASH, DISCOUNT, GROUPON, GIFT (40071); the
// inner object under the lower-case type (41011); base_info's logo_url,
// brand_name, code_type, title, color, notice, description, sku.quantity and
// date_info present (41011); brand_name ≤ 12, title ≤ 9, notice ≤ 16,
// description ≤ 1024, center_title ≤ 6, sub_title ≤ 18 characters (45021);
// code_type one of WeChat's six and a logo on mmbiz.qpic.cn, where
// /cgi-bin/media/uploadimg puts it (40097); color Color010 … Color100 (40076);
// sku.quantity 0 … 100,000,000 (40122); date_info DATE_TYPE_FIX_TIME_RANGE
// with begin < end and end in the future, DATE_TYPE_FIX_TERM with
// fixed_term > 0, DATE_TYPE_PERMANENT for member cards only (40079); and the
// type's own fields (cash: least_cost and reduce_cost; discount: 1 … 99;
// general_coupon: default_detail; groupon: deal_detail; gift: gift;
// member_card: checkMemberCard — prerogative, supply_bonus and
// supply_balance required (41011), prerogative ≤ 1024 characters and the
// URLs ≤ 128 bytes (45021), background_pic_url on mmbiz.qpic.cn, a custom
// field's name_type one of WeChat's eight (or a name of its own ≤ 5
// characters), bonus_rule's numbers ≥ 0 and discount 0 … 99 (40097); a field
// of the wrong JSON type is 47001). Member-card sources: the field tables of
// WeChat's 创建会员卡 page as public SDKs copy them (names, the three required
// fields, the limits); unverified: which "point fields" supply_bonus true
// makes required (the sandbox requires none) and every member-card errcode
// (the sandbox reuses base_info's).
// Sources: the field table and limits of docs/wechat-cards-wifi.md (from
// the official card docs as the wire notes give them); the errcodes and
// errmsgs 40056, 40071, 40073, 40075, 40076, 40079, 40097, 40099, 40122,
// 40127, 41011 and 45021 from WeChat's global return-code table as
// binarywang/WxJava copies it (weixin-java-common
// me/chanjar/weixin/common/error/WxOpenErrorMsgEnum.java); the table has no
// code for a bad code_type (its 40072 is a location id), so that one is the
// generic 40097, unverified. The event fields from WxJava's
// weixin-java-mp me/chanjar/weixin/mp/bean/message/WxMpXmlMessage.java and
// WxMpEventConstants.java. The Wi-Fi rules (ssid "WX", password 8–24,
// pagesize ≤ 20) and their 40097 are widely quoted but unverified; WeChat's
// own Wi-Fi errcodes are not modelled.
//
// A new card is CARD_STATUS_NOT_VERIFY. Its review is decided once the
// card-rules delay has passed on the sandbox clock (a ticker, a clock move,
// and the control reads decide what is due): CARD_STATUS_VERIFY_OK and a
// card_pass_check push, or CARD_STATUS_VERIFY_FAIL and card_not_pass_check
// with RefuseReason (the verdict "reject", or a reject word in the card's
// fields). Pushes go to the official account's message URL.
//
//	GET  /sandbox/api/card-rules                         {"delay","verdict","reject_words","refuse_reason"}
//	POST /sandbox/api/card-rules                         the same; each field given replaces that rule (defaults "5s", "pass")
//	GET  /sandbox/api/apps/{appid}/cards                 {"cards":[{"card_id","card_type","title","status","refuse_reason","quantity","issued","consumed"}]}
//	POST /sandbox/api/apps/{appid}/cards/{card_id}/receive {"openid"?,"outer_str"?} → {"code","encrypt_code","openid","card_id","push"}:
//	                                                     a user adds the card; 409 before approval or out of stock; user_get_card pushed synchronously
//	POST /sandbox/api/apps/{appid}/cards/{card_id}/review {"verdict":"pass"|"reject","refuse_reason"?} → {"card_id","verdict","push"}:
//	                                                     WeChat's reviewers decide a card under review now, before the rules' delay
//	                                                     (the 审核 page's buttons); 409 once reviewed; the verdict pushed synchronously
//	POST /sandbox/api/apps/{appid}/wifi/shops            {"shop_name"} → {"shop_id",…}: a 门店 of an official account (400 for a mini program)
//
// # WeChat Pay (微信支付), partner mode, API v3
//
// The paths under /v3/ are api.mch.weixin.qq.com (pay.go, pay_order.go,
// pay_applyment.go; the facts in docs/wechat-pay.md). One service provider
// (sp_mchid 1900000109, sp_appid wx8888888888888888) whose API key pair and
// WeChat Pay's own key pair (微信支付公钥, id PUB_KEY_ID_…) are generated on
// first use and kept sealed in {DataDir}/sandbox-pay.json with everything
// else of pay. Every /v3/ call:
//
//	Authorization  WECHATPAY2-SHA256-RSA2048 mchid,nonce_str,signature,timestamp,serial_no:
//	               missing/malformed, another mchid or serial, timestamp > 5 min from the wall clock,
//	               SHA256withRSA over "METHOD\nURI\nTS\nNONCE\nBODY\n" not verifying → 401 SIGN_ERROR
//	answers        {"code","message"} on errors; every answer (errors too) carries Wechatpay-Timestamp/
//	               Nonce/Signature/Serial, signed with WeChat Pay's key over "TS\nNONCE\nBODY\n"
//
//	POST /v3/pay/partner/transactions/jsapi   400 PARAM_ERROR (a required field, payer not exactly one of
//	     sp_openid/sub_openid, sub_openid without sub_appid, out_trade_no not 6–32 of [0-9A-Za-z_-|*],
//	     description > 127, total ≤ 0, currency not CNY, notify_url with a query), 400 APPID_MCHID_NOT_MATCH,
//	     400 MCH_NOT_EXISTS (sub_mchid), 403 NO_AUTH (sub_appid not bound), 400 ORDERPAID / ORDER_CLOSED,
//	     400 INVALID_REQUEST (out_trade_no reused with other parameters); the same parameters again within
//	     the prepay_id's 2 h (sandbox clock) → the same prepay_id
//	GET  /v3/pay/partner/transactions/out-trade-no/{no}?sp_mchid=&sub_mchid=   400 PARAM_ERROR (either missing),
//	     404 ORDER_NOT_EXIST; trade_state NOTPAY, SUCCESS, CLOSED, or REFUND once a refund was made
//	POST /v3/pay/partner/transactions/out-trade-no/{no}/close {sp_mchid,sub_mchid} → 204; 400 PARAM_ERROR (either
//	     missing), 404 ORDER_NOT_EXIST, 400 ORDERPAID
//	POST /v3/refund/domestic/refunds {sub_mchid, out_trade_no|transaction_id, out_refund_no, reason, notify_url,
//	     amount{refund,total,currency}}   400 PARAM_ERROR (sub_mchid, out_refund_no not 1–64 of [0-9A-Za-z_-|*@],
//	     neither order id, amount's fields, currency not CNY, refund ≤ 0, reason > 80), 400 MCH_NOT_EXISTS,
//	     404 RESOURCE_NOT_EXISTS (order missing or not paid), 400 INVALID_REQUEST (total not the order's, refund
//	     more than is left, out_refund_no reused with other parameters), and the sub-merchant's refund refusal if
//	     one is set (403 NOT_ENOUGH, 403 USER_ACCOUNT_ABNORMAL, 429 FREQUENCY_LIMITED); the same out_refund_no again →
//	     the same refund.
//	     Settled at once: the answer says PROCESSING, queries say SUCCESS, REFUND.SUCCESS goes to notify_url
//	GET  /v3/refund/domestic/refunds/{out_refund_no}?sub_mchid=   400 PARAM_ERROR, 404 RESOURCE_NOT_EXISTS
//	POST /v3/applyment4sub/applyment/   Wechatpay-Serial must name WeChat Pay's key (400 PARAM_ERROR);
//	     business_code, contact_info, subject_info, business_info, settlement_info, bank_account_info and
//	     their main fields required (400 PARAM_ERROR); contact_name, mobile_phone, contact_email,
//	     contact_id_number, id_card_name, id_card_number, account_name, account_number must decrypt with
//	     RSA-OAEP (SHA-1) under WeChat Pay's key; a business_code in use and not rejected → 400 INVALID_REQUEST;
//	     a rejected one is replaced → {"applyment_id"}
//	GET  /v3/applyment4sub/applyment/business_code/{code}   400 PARAM_ERROR "未能找到申请单" (nothing under that code);
//	     {business_code, applyment_id, applyment_state,
//	     applyment_state_msg, sign_url, sub_mchid (FINISHED), audit_detail [{field, field_name, reject_reason}] (REJECTED)}
//
// The notification (TRANSACTION.SUCCESS) goes to the order's notify_url when
// the user pays (control call below), REFUND.SUCCESS to the refund's when a
// refund is made: the transaction (the refund) AES-256-GCM sealed with the
// APIv3 key (nonce 12 characters, associated_data "transaction" ("refund")), the
// headers signed as answers are and stamped with the wall clock; it is
// re-sent on anything but a 2xx after 15 s, 15 s, 30 s, 3 m, 10 m, 20 m, 30 m,
// 30 m, 30 m, 1 h, 3 h, 3 h, 3 h, 6 h, 6 h on the sandbox clock, then dropped.
// WeChat Pay requires an https notify_url; the sandbox takes http as well,
// because the demo platform has no TLS.
//
// Control (demo and tests; no WeChat Pay has them):
//
//	GET  /sandbox/api/pay/merchant   sp_mchid, sp_appid, cert_serial, private_key (PEM), merchant_public_key,
//	                                 apiv3_key, wechatpay_public_key_id, wechatpay_public_key
//	POST /sandbox/api/pay/orders/{out_trade_no}/pay {"sub_mchid","lose_notification"?}   the user pays →
//	     {transaction_id, notification_id}; lose_notification: the notification is never sent (as if every
//	     attempt was lost; resend still sends it), only a query tells the order is paid
//	GET  /sandbox/api/pay/orders, GET /sandbox/api/pay/notifications (each with its attempts)
//	POST /sandbox/api/pay/notifications/{id}/resend   once more, now, acknowledged or not → the attempt
//	POST /sandbox/api/pay/applyments/{business_code}/decide {"result":"approve"|"reject"|"cancel","reason","field","field_name","state"}
//	     approve → "state" (TO_BE_CONFIRMED, TO_BE_SIGNED, SIGNING) or FINISHED with a new sub_mchid
//	GET  /sandbox/api/pay/applyments/{business_code}   the form as received (sensitive fields encrypted) and
//	     "decrypted": those fields as decrypted, by path (not kept across a restart)
//	POST /sandbox/api/pay/sub-merchants/{sub_mchid}/appids {"appid"}   bind a mini program (特约商户 APPID
//	     配置, done in the merchant platform on WeChat Pay; no API found in the sources)
//	GET  /sandbox/api/pay/sub-merchants
//	POST /sandbox/api/pay/sub-merchants/{sub_mchid}/refund-refusal {"code"}   from now on the sub-merchant's
//	     refunds answer code (NOT_ENOUGH, USER_ACCOUNT_ABNORMAL, FREQUENCY_LIMITED: the balance, the payer's
//	     account and the rate limit the sandbox does not model), or are taken again for ""
//
// Sources: wechatpay-apiv3/wechatpay-go v0.2.21 (core/auth signers,
// validators and verifiers, core/notify, services/partnerpayments/jsapi
// (QueryOrderByOutTradeNo, CloseOrder: which fields go in the path, query
// and body), services/refunddomestic (CreateRequest, AmountReq, Refund,
// QueryByOutRefundNoRequest: fields, statuses, sub_mchid in partner mode,
// out_refund_no's characters, one refund per out_refund_no); WeChat Pay's
// partner refund query page (sub_mchid required); for "more than is left" the
// older XML API's INVALID_REQUEST), utils/rsa_crypto.go: OAEP with SHA-1).
// The refund error table (codes with their HTTP statuses; an unpaid order is
// RESOURCE_NOT_EXISTS 404): egzosn/pay-java-parent
// pay-java-wx/src/main/java/com/egzosn/pay/wx/v3/bean/response/WxRefundResult.java
// and gabinlin/wx-pay-profits-sharing
// src/main/java/top/gabin/tools/response/ecommerce/refunds/RefundApplyResponse.java
// (they differ on MCH_NOT_EXISTS, 404 and 400: the sandbox keeps 400,
// unverified); reason 1–80 characters from the refund page as public
// tutorials copy it. The order errors' statuses: WeChat Pay's partner
// mini-program close-order page (pay.weixin.qq.com/docs/partner/apis/
// partner-miniprogram-payment/close-order.html) and the combined-payment
// tables gabinlin/wx-pay-profits-sharing copies
// (src/main/java/top/gabin/tools/response/pay/combine/); ORDERPAID is in
// none of them (unverified). The notification schedule:
// TheNorthMemory/wechatpay.js.org webhook/v3/TRANSACTION.SUCCESS.md. What
// developers report WeChat Pay answering, on its community
// (developers.weixin.qq.com/community): an unknown business_code's 400
// PARAM_ERROR "未能找到申请单", a stale timestamp's 401 SIGN_ERROR (five
// minutes), an order placed again with another amount INVALID_REQUEST "201
// 商户订单号重复", an unpaid order's refund RESOURCE_NOT_EXISTS. For
// onboarding, whose models that
// SDK does not have: JeffreySu/WeiXinMPSDK
// (ServiceProviderTenPayV3 GetApplyStatusResultJson.cs: states,
// audit_detail, sign_url, sub_mchid only when finished, a rejected
// business_code may be submitted again), fudiwei/DotNetCore.SKIT.FlurlHttpClient.Wechat
// (TenpayV3 Models/Apply4SubMerchant CreateApplyForSubMerchantApplymentRequest.cs:
// which fields are sensitive, RSA-OAEP), TheNorthMemory/wechatpay-openapi
// (src/V3/Applyment4sub/Applyment: the form's structure). The error for a
// business_code in use is unverified (searched those SDKs, wechatpay-go,
// WxJava and WeChat's community threads on applyment4sub).
//
// # Pages
//
// GET / and /sandbox/ show the components, accounts and their authorizations,
// the outbox and recent pushes, with small forms (no JavaScript) to push a
// ticket, move the clock, send a user message, revoke an authorization and
// run the release check. Icons are generated SVGs at
// /sandbox/static/icons/{appid}.svg.
//
// # State
//
// {DataDir}/sandbox.db is the sandbox's own SQLite file (modernc.org/sqlite,
// WAL): one row per account, component (tickets, tokens, whitelist),
// authorization, code, user book, outbox entry and quota counter, each value
// sealed with AES-GCM under {DataDir}/sandbox.key and bound to its row's key.
// Codes are kept by a digest of their value, in memory and on disk. Every
// change records its rows; one writer writes all recorded rows in one
// transaction and commits with synchronous=FULL. An emulated API that changed
// state answers only after that commit, and the authorization paths, the
// release check and the bulk path push a code only after it: what the
// platform was told (a rotated refresh token, a code) survives a crash of
// the sandbox, even a power loss, and many changes share one commit under
// load. (Earlier versions wrote the whole state asynchronously after
// answering.) Control-only state (clock, whitelist, quota limits) is written
// the same way, soon after. A sandbox.json of an earlier version is imported
// on first start and renamed sandbox.json.imported once written. A
// superseded token is forgotten once its 5-minute grace has passed: it then
// answers 40001, as it did.
package sandbox
