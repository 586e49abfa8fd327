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
