// Package sandbox is an offline emulator of WeChat's side of a third-party
// platform (第三方平台): the component and authorizer token APIs, the
// authorization pages, the encrypted pushes to the platform, customer-service
// messages (客服消息) and the automated 全网发布 release check. wxfleet's
// platform talks to it exactly as it would talk to WeChat; the platform
// points api.weixin.qq.com, mp.weixin.qq.com and open.weixin.qq.com at the
// sandbox's one base URL, so every path here is host-independent.
//
// The sandbox imports nothing of the platform but wxcrypt: two independent
// implementations of the wire format keep each other honest. The wire
// reference it follows is shared/wechat/01-component.md and 03-runtime.md §2.
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
// older than 48 h on the sandbox clock is forgotten.
//
// # Emulated WeChat APIs
//
// All are POST with a JSON body and answer HTTP 200, errors as
// {"errcode":N,"errmsg":"<english> rid: <hex>-<hex>-<hex>"}. Token APIs take
// the component token as ?component_access_token= or ?access_token=.
//
//	/cgi-bin/component/api_component_token      61011/40013 appid, 41004/40125 secret, 61006/61005 ticket
//	/cgi-bin/component/api_start_push_ticket    component_secret (or component_appsecret); pushes a ticket soon after
//	/cgi-bin/component/api_create_preauthcode   41001 missing, 40001 invalid, 42001 expired token
//	/cgi-bin/component/api_query_auth           61009 unknown, 61010 expired code; not single-use
//	/cgi-bin/component/api_authorizer_token     rotates the refresh token on every call; 61023, 61003
//	/cgi-bin/component/api_get_authorizer_info  MiniProgramInfo only for mini programs; 61003
//	/cgi-bin/component/api_get_authorizer_list  count > 500 → 40170
//	/cgi-bin/message/custom/send                ?access_token=<authorizer token>; 40003, 40008, 45015, 47001, 61007
//
// An empty body is 44002, malformed JSON 47001, a known API with another
// method 43002. Any other path under /cgi-bin/, /wxa/ or /sns/ answers HTTP 404
// {"errcode":-1,"errmsg":"system error: api not emulated by the wxfleet
// sandbox: <path>"}: a sandbox choice, not WeChat behaviour, so that a
// missing emulation is never mistaken for a platform bug.
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
// the admin came from, when the request names one (Referer): WeChat also
// refuses a page opened without a Referer, the sandbox lets it through so
// that links can be opened by hand and by tools.
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
//	POST   /sandbox/api/authorize                 {"url","appid","func":[ids]?} → {"redirect_url"}; as the page's confirm
//	POST   /sandbox/api/apps/{appid}/unauthorize  {"component_appid"?} → {"ok":true,"status":<platform HTTP status>}; pushes unauthorized synchronously
//	POST   /sandbox/api/apps/{appid}/messages     {"openid"?,"content"} or {"openid"?,"event":"user_enter_tempsession","session_from"?}, "component_appid"?
//	                                              → {"openid","msg_id","status","reply","reply_plain"?,"error"?}
//	GET    /sandbox/api/outbox?appid=             {"items":[{"component_appid","appid","touser","msgtype","content","body","at"}]}
//	POST   /sandbox/api/ticket                    {"component_appid"?} → {"ticket","status","ok","error"?}; synchronous
//	GET    /sandbox/api/components                {"items":[{"component_appid","name","platform_url","auth_domain","latest_ticket","ticket_issued_at"}]}
//	GET    /sandbox/api/clock                     {"now":RFC3339,"offset":"2h0m0s"}
//	POST   /sandbox/api/clock                     {"advance":"2h"} or {"reset":true} → same as GET
//	POST   /sandbox/api/faults                    {"path","errcode"?,"rate"?,"latency"?,"count"?} → the fault with "id","errmsg","fired"
//	GET    /sandbox/api/faults                    {"items":[fault...]}
//	DELETE /sandbox/api/faults                    {"ok":true}
//	GET    /sandbox/api/calls                     {"calls":{"<path>":N}}; DELETE resets
//	GET    /sandbox/api/pushes?limit=             {"items":[{"id","kind","component_appid","appid","event","url","at","done","ok","attempts","status","reply","error"}]} newest first
//	GET    /sandbox/api/ip-whitelist?component_appid=  {"component_appid","ips":[...]}
//	POST   /sandbox/api/ip-whitelist              {"component_appid"?,"ips":["203.0.113.7","10.0.0.0/8"]} ([] accepts any address) → the same
//	GET    /sandbox/api/quotas                    {"limits":{"<path>":N},"used":[{"account","path","period","count"}],"resets":[{"account","period","count"}]}
//	POST   /sandbox/api/quotas                    {"path","daily_limit"} (0 removes the limit) → the same
//	POST   /sandbox/api/release-check             {"component_appid"?,"appid"?} → {"passed","appid","component_appid","cases":[{"name","passed","detail"}]}
//
// # IP whitelist
//
// A component with a whitelist (白名单IP地址列表) gets 61004 on its
// component APIs (/cgi-bin/component/…) from any other address, as on
// WeChat. None is set by default, so that the demo works from anywhere.
//
// # Quotas
//
// Every emulated API call counts against its caller's daily quota (the
// component for component APIs, the mini program for its own), per API, over
// a day in Beijing time on the sandbox clock; over the limit WeChat answers
// 45009. WeChat does not publish the component APIs' limits, so none is set
// until POST /sandbox/api/quotas sets one. clear_quota
// (/cgi-bin/component/clear_quota with the component token,
// /cgi-bin/component/clear_quota/v2 with the secret and optionally an
// authorizer's appid, /cgi-bin/clear_quota with an authorizer token) resets
// an account's counts, ten times a month at most (then 48006). Limits and
// counts are kept in the state file.
//
// A fault's rate defaults to 1 (always) and count to 0 (unlimited); faults
// apply before any validation and live in memory only, as do call counts and
// the push log.
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
// The token is checked first on every path, before the body: missing 41001,
// unknown 40001, expired 42001. Only ?access_token= is read on the per-app
// APIs. A component token on a per-app API is unknown there (40001); an
// authorizer token on a template API gets 61014 ("must use component token
// for component api", WeChat's global errcode table). The per-app APIs then
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
//	POST /wxa/modify_domain           {action add|delete|set|get, requestdomain[], wsrequestdomain[], uploaddomain[], downloaddomain[], udpdomain[], tcpdomain[]}: 85022, 85016 over 1000
//	POST /wxa/setwebviewdomain        {action, webviewdomain[]}: 85022, 89019 no change, 89022 deleting an unknown one, 89029 over 100
//	POST /wxa/bind_tester             {wechatid} → {userstr}: 85001 empty, 85004 bound, 85002 over 100
//	POST /wxa/unbind_tester           {wechatid} or {userstr}: 47001 neither
//	POST /wxa/memberauth              {action: get_experiencer} → members[] {userstr}; 47001 other action
//	POST /cgi-bin/component/setprivacysetting  authorizer token despite the path (WxJava, SKIT); {privacy_ver 1|2 (default 2), owner_setting, setting_list}
//	POST /cgi-bin/component/getprivacysetting  {privacy_ver} → {code_exist, privacy_list, setting_list (with privacy_label), update_time, owner_setting, privacy_desc}
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
// not checked against item_list (85008 not emulated); server domains need
// not be on the platform's own list (85017/85018 not emulated); the
// privacy guide needs notice_method and one contact (WeChat's reference
// marks them required; 47001 is the sandbox's code). The audit quota
// defaults to 10000 a month, speed-ups to 100, the template library to
// 100, the package limit to 2048 KB (WeChat gives no numbers; POST
// /sandbox/api/code-limits changes them).
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
//	GET  /sandbox/api/code-limits           {"audit_quota","speedup_quota","template_limit","package_limit_kb"}
//	POST /sandbox/api/code-limits           the same, each field given replaces that limit
//	GET  /sandbox/api/apps/{appid}/code     {"exp","auditing","latest_audit","released","gray","history","audits","visit_status",
//	                                          "counts":{"commits","submits","releases","gray_releases","rollbacks","undos","speedups"},"events","domains","webviewdomain","testers"}
//	GET  /sandbox/api/code/apps             {"items":[{"appid","counts","exp_version","released_version","audit_status"}]}
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
// One JSON document, {DataDir}/sandbox.json (mode 0600, written via a temp
// file, fsync and rename by a background writer and by Close), holds the
// accounts, tickets, tokens, codes, authorizations, users, outbox and clock
// offset. It contains live credentials in clear text: it is a test double's
// file; keep it out of anything shared.
package sandbox
