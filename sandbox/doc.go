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
// older than 48 h on the sandbox clock is forgotten.
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
//	/cgi-bin/message/custom/send                ?access_token=<authorizer token>; 40003, 40008, 45015, 47001, 61007
//
// An empty body is 44002, malformed JSON 47001, a known API with another
// method 43002. The token-taking APIs of the component family answer 41018
// when the body lacks component_appid, 61011 when it names another component. Any other path under /cgi-bin/, /wxa/ or /sns/ answers HTTP 404
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
//	POST   /sandbox/api/apps/bulk                 {"count":N,"authorize":bool,"component_appid"?,"func_info":[ids]?} (1 ≤ N ≤ 100000)
//	                                              → {"appids":[...],"created","authorized","push_failures","create_ms","authorize_ms"}
//	POST   /sandbox/api/authorize                 {"url","appid","func":[ids]?} → {"redirect_url"}; as the page's confirm
//	POST   /sandbox/api/apps/{appid}/unauthorize  {"component_appid"?} → {"ok":true,"status":<platform HTTP status>}; pushes unauthorized synchronously
//	POST   /sandbox/api/apps/{appid}/messages     {"openid"?,"content"} or {"openid"?,"event":"user_enter_tempsession","session_from"?}, "component_appid"?
//	                                              → {"openid","msg_id","status","reply","reply_plain"?,"error"?}
//	GET    /sandbox/api/outbox?appid=             {"items":[{"component_appid","appid","touser","msgtype","content","body","at"}]}
//	POST   /sandbox/api/ticket                    {"component_appid"?} → {"ticket","status","ok","error"?}; synchronous
//	GET    /sandbox/api/components                {"items":[{"component_appid","name","platform_url","auth_domain","latest_ticket","ticket_issued_at"}]}
//	GET    /sandbox/api/clock                     {"now":RFC3339,"offset":"2h0m0s"}
//	POST   /sandbox/api/clock                     {"advance":"2h"} or {"reset":true} → same as GET
//	POST   /sandbox/api/faults                    {"path","errcode"?,"rate"?,"latency"?,"count"?,"appids"?} → the fault with "id","errmsg","fired"
//	GET    /sandbox/api/faults                    {"items":[fault...]}
//	DELETE /sandbox/api/faults                    {"ok":true}
//	GET    /sandbox/api/calls                     {"items":[{"path","errcode","count"}],"calls":{"<path>":N}}; ?path= filters the items
//	GET    /sandbox/api/calls?path=P&by=appid     {"items":[{"appid","errcode","count"}]}: calls of P per authorizer
//	DELETE /sandbox/api/calls                     resets both
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
