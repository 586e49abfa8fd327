package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/wxfleet/wxfleet/token"
)

//go:generate go run . config docs --out ../../docs/configuration.md

// A setting is one knob of a wxfleet command: a command-line flag, a
// WXFLEET_* environment variable, or both. settingTable below is the only
// place a setting is declared. The commands build their flag sets from it
// (cmdSettings), the unknown-variable check knows the variables from it,
// and docs/configuration.md is generated from it (`wxfleet config docs`),
// so adding a setting is adding a row and reading it with cmdSettings.get
// (or env.get for a variable-only one), then `go generate ./cmd/wxfleet`.
type setting struct {
	// Flag is the command-line flag without dashes; "" when the setting is
	// a variable only.
	Flag string
	// Env is the variable's name after WXFLEET_; "" when it is a flag only.
	Env string
	// File lets WXFLEET_<Env>_FILE name a file holding the value (trimmed),
	// for secrets an orchestrator mounts.
	File bool
	// Bool flags take no value (--status).
	Bool bool
	// Default is the value when neither flag nor variable is given.
	Default string
	// DefaultDoc describes a default the code computes (DATA/wxfleet.db);
	// it is what the docs show instead of Default.
	DefaultDoc string
	// Commands read the setting.
	Commands []string
	// Ignored are commands that accept the flag and do nothing with it, so
	// that serve's command line works for them too.
	Ignored []string
	// Secret values are never logged or printed; give them by file.
	Secret bool
	// Group is the section of docs/configuration.md.
	Group string
	// ZH and EN say what it means, for people.
	ZH, EN string
	// Test marks WXFLEET_TEST_* knobs the tests use to make things quick; not
	// for operators (the unknown-variable check leaves WXFLEET_TEST_* alone).
	Test bool
}

// The groups of docs/configuration.md, in order.
const (
	groupPlatform = "平台与数据库 / Platform and database"
	groupSecrets  = "第三方平台与密钥 / Third-party platform and keys"
	groupSurface  = "公开接口与监控 / Public surface and metrics"
	groupRollout  = "批量发布 / Rollouts"
	groupWebhooks = "事件推送 / Webhooks"
	groupLogs     = "日志 / Logs"
	groupPay      = "微信支付 / WeChat Pay"
	groupDemo     = "演示与沙箱 / Demo and sandbox"
	groupCLI      = "命令行工具 / Command-line tools"
	groupTest     = "仅供测试 / For the tests only"
)

// apiCommands are the commands that talk to a running wxfleet's REST API.
var apiCommands = []string{"rollout", "fleet-action", "template"}

var docGroups = []string{groupPlatform, groupSecrets, groupSurface, groupRollout, groupWebhooks, groupLogs, groupPay, groupDemo, groupCLI, groupTest}

// serveIgnored accept serve's flags that mean nothing to them, so that
// serve's command line works for them too.
var serveIgnored = []string{"migrate", "rotate-key"}

// settingTable is every setting of every command. Keep existing flag and
// variable names exactly: deployments and scripts outside the repo use them.
var settingTable = []setting{
	// Platform and database.
	{Flag: "addr", Env: "ADDR", File: true, Default: "127.0.0.1:8080", Commands: []string{"serve", "healthcheck"}, Ignored: serveIgnored, Group: groupPlatform,
		ZH: "监听地址；healthcheck 由它得出默认的 /readyz 地址", EN: "listen address; healthcheck probes /readyz there by default"},
	{Flag: "data", Env: "DATA", File: true, Default: "wxfleet-data", Commands: []string{"serve", "migrate", "backup", "restore", "rollout", "fleet-action", "template", "rotate-key", "account"}, Group: groupPlatform,
		ZH: "数据目录：SQLite 数据库、接收日志、master.key（及 demo 的 admin.token）", EN: "data directory: SQLite database, ingest journal, master.key (and the demo's admin.token)"},
	{Flag: "database", Env: "DATABASE", File: true, DefaultDoc: "DATA/wxfleet.db", Commands: []string{"serve", "migrate", "backup", "restore", "rotate-key", "account"}, Secret: true, Group: groupPlatform,
		ZH: "PostgreSQL 用 postgres://…（可能含密码，宜用 _FILE）；否则为 SQLite 文件", EN: "postgres://… for PostgreSQL (may hold a password: prefer _FILE); else a SQLite file"},
	{Flag: "wechat-url", Env: "WECHAT_URL", File: true, DefaultDoc: "微信本身 / WeChat itself", Commands: []string{"serve"}, Ignored: serveIgnored, Group: groupPlatform,
		ZH: "把所有微信域名的调用与页面发到这里（如沙箱）；为空即真实微信", EN: "send every WeChat host's calls and pages here, e.g. a sandbox; empty = WeChat itself"},
	{Flag: "public-url", Env: "PUBLIC_URL", File: true, DefaultDoc: "http://ADDR", Commands: []string{"serve"}, Ignored: serveIgnored, Group: groupPlatform,
		ZH: "浏览器与微信访问本服务的地址（反向代理的 https 地址）；推送与授权回调都用它", EN: "URL browsers and WeChat use to reach this server (your proxy's https URL); pushes and authorization callbacks use it"},
	{Flag: "platforms", Env: "PLATFORMS", File: true, Commands: []string{"serve"}, Ignored: serveIgnored, Group: groupPlatform,
		ZH: "列出多个第三方平台的 JSON 文件，示例 deploy/platforms.example.json（*_file 相对于该文件）", EN: "JSON file listing several third-party platforms, example deploy/platforms.example.json (*_file relative to it)"},
	{Flag: "refresh-rate", Env: "REFRESH_RATE", File: true, DefaultDoc: fmt.Sprint(token.DefaultRate), Commands: []string{"serve"}, Group: groupPlatform,
		ZH: "每个平台每秒 api_authorizer_token 调用上限，整个集群合计；刷新按此速率均匀排期", EN: "api_authorizer_token calls per second per platform, for the whole cluster; refreshes are spread at this rate"},
	{Env: "AUTH_TYPE", File: true, DefaultDoc: "2", Commands: []string{"serve"}, Group: groupPlatform,
		ZH: "授权链接默认的 auth_type：1 公众号，2 小程序，3 都可", EN: "default auth_type of authorization links: 1 official accounts, 2 mini programs, 3 both"},

	// Third-party platform and keys.
	{Env: "ADMIN_TOKEN", File: true, Commands: []string{"serve", "demo", "rollout", "fleet-action", "template"}, Secret: true, Group: groupSecrets, DefaultDoc: "serve 必填 / serve: required",
		ZH: "API 与控制台的管理令牌（至少 32 个字符，如 openssl rand -hex 24）；demo 不设则生成并存于 DATA/admin.token", EN: "the admin bearer token of the API and console (at least 32 characters); the demo makes one in DATA/admin.token"},
	{Env: "MASTER_KEY", File: true, Commands: []string{"serve", "demo", "restore", "rotate-key"}, Secret: true, Group: groupSecrets, DefaultDoc: "DATA/master.key (SQLite)",
		ZH: "静态加密主密钥（base64 的 32 字节，wxfleet keygen 生成）；PostgreSQL 必填、各实例相同；与数据库分开备份；rotate-key：新密钥", EN: "master key sealing secrets at rest (32 bytes base64, wxfleet keygen); required on PostgreSQL, the same on every instance; back it up apart from the database; rotate-key: the new key"},
	{Env: "MASTER_KEY_OLD", File: true, Commands: []string{"serve", "rotate-key"}, Secret: true, Group: groupSecrets, DefaultDoc: "rotate-key（SQLite）：DATA/master.key",
		ZH: "轮换主密钥期间的旧密钥：只用来解密；数据库指明用哪个密钥加密新值（见 docs/operations.md）", EN: "the old master key during a rotation: opens only; the database names which key seals new values (see docs/operations.md)"},
	{Env: "COMPONENT_APPID", File: true, Commands: []string{"serve", "demo", "sandbox"}, Group: groupSecrets, DefaultDoc: "demo: 演示平台 / the demo platform",
		ZH: "第三方平台 appid（一个平台时；多个用 --platforms）", EN: "the third-party platform's appid (one platform; several: --platforms)"},
	{Env: "COMPONENT_SECRET", File: true, Commands: []string{"serve", "demo", "sandbox"}, Secret: true, Group: groupSecrets,
		ZH: "第三方平台 appsecret", EN: "the platform's appsecret"},
	{Env: "COMPONENT_TOKEN", File: true, Commands: []string{"serve", "demo", "sandbox"}, Secret: true, Group: groupSecrets,
		ZH: "消息校验 Token", EN: "the message token (消息校验Token)"},
	{Env: "COMPONENT_AES_KEY", File: true, Commands: []string{"serve", "demo", "sandbox"}, Secret: true, Group: groupSecrets,
		ZH: "消息加解密 Key（EncodingAESKey，43 个字符）", EN: "the EncodingAESKey (43 characters)"},
	{Env: "COMPONENT_NAME", File: true, Default: "", DefaultDoc: "wxfleet 演示平台", Commands: []string{"serve", "demo", "sandbox"}, Group: groupSecrets,
		ZH: "平台在控制台与授权页上的名称", EN: "the platform's name in the console and on authorization pages"},

	// Public surface and metrics.
	{Flag: "metrics-addr", Env: "METRICS_ADDR", File: true, Commands: []string{"serve"}, Group: groupSurface,
		ZH: "只在该地址（如 127.0.0.1:9090）提供 /metrics，不要令牌；不设则在主地址提供，需 Bearer 令牌", EN: "serve /metrics only on this address (e.g. 127.0.0.1:9090) without a token; unset: on ADDR with a bearer token"},
	{Env: "METRICS_TOKEN", File: true, Commands: []string{"serve"}, Secret: true, Group: groupSurface, DefaultDoc: "管理令牌 / the admin token",
		ZH: "主地址上 /metrics 的 Bearer 令牌", EN: "bearer token of /metrics on the main address"},
	{Env: "TRUSTED_PROXIES", File: true, Commands: []string{"serve"}, Group: groupSurface,
		ZH: "可信反向代理的 IP 或 CIDR（逗号分隔）；只有它们的 X-Forwarded-For 被当作客户端地址", EN: "reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client; nobody else's is believed"},
	{Env: "MAX_CONNECTIONS", File: true, Commands: []string{"serve"}, Group: groupSurface, DefaultDoc: "4096",
		ZH: "同时打开的连接上限（至少 16）；到上限时关闭等待最久的空闲连接", EN: "cap on open connections (at least 16); at the cap the longest-idle ones are closed"},
	{Env: "API_BODY_LIMIT", File: true, Commands: []string{"serve"}, Group: groupSurface, DefaultDoc: "1MiB",
		ZH: "JSON 接口请求体上限（如 4MiB），超过返回 413；表单 4 KiB、推送 1 MiB 固定", EN: "JSON API body cap (e.g. 4MiB), over it 413; forms 4 KiB and pushes 1 MiB are fixed"},
	{Env: "EVENT_RETENTION", File: true, Commands: []string{"serve"}, Group: groupSurface, DefaultDoc: "30d",
		ZH: "用户消息与事件的保留期（30d、720h 或 forever）；每小时清理，授权事件与审核结果永久保留", EN: "how long user messages and events are kept (30d, 720h or forever); pruned hourly; authorization events and audit results are kept"},

	// Webhooks (docs/webhooks.md).
	{Env: "WEBHOOK_TIMEOUT", File: true, Commands: []string{"serve"}, Group: groupWebhooks, DefaultDoc: "10s",
		ZH: "每次投递的超时（连接到读完应答），1s 到 2m", EN: "one delivery attempt, connection to the last byte, 1s to 2m"},
	{Env: "WEBHOOK_MAX_ATTEMPTS", File: true, Commands: []string{"serve"}, Group: groupWebhooks, DefaultDoc: "12",
		ZH: "进入死信之前的尝试次数（1 到 50；默认约一天）", EN: "attempts before a delivery is dead-lettered (1 to 50; the default spans about a day)"},
	{Env: "WEBHOOK_RETRY_BASE", File: true, Commands: []string{"serve"}, Group: groupWebhooks, DefaultDoc: "1m",
		ZH: "首次重试的间隔，之后每次翻倍，最多 8 小时（1s 到 1h）", EN: "delay after the first failed attempt, doubling each time up to 8 hours (1s to 1h)"},
	{Env: "WEBHOOK_PRIVATE_ADDRESSES", File: true, Commands: []string{"serve"}, Group: groupWebhooks, DefaultDoc: "allow",
		ZH: "allow 或 refuse：是否拒绝回环、内网、链路本地地址的接收方（保存时与每次连接时检查）", EN: "allow or refuse receivers on loopback, private and link-local addresses (checked when saved and at every connection)"},

	{Env: "TENANT_GRACE", File: true, Commands: []string{"serve"}, Group: groupSurface, DefaultDoc: "7d",
		ZH: "订阅到期后租户保持可用的宽限期（7d 或 168h），之后设为 suspended（运行时接口回 402，发布跳过）", EN: "how long a tenant stays active after its subscription expired (7d or 168h); then it is suspended (the runtime API answers 402, rollouts skip it)"},
	{Env: "TENANT_CHECK_INTERVAL", File: true, Commands: []string{"serve"}, Group: groupSurface, DefaultDoc: "24h",
		ZH: "订阅到期策略（30/7/1 天提醒、到期、宽限期后停用）多久运行一次，至少 1h；启动时也运行", EN: "how often the subscription expiry policy (30/7/1-day reminders, expiry, suspension after the grace period) runs, at least 1h; also at start"},
	{Env: "RUNTIME_SESSION_TTL", File: true, Commands: []string{"serve"}, Group: groupSurface, DefaultDoc: "2h",
		ZH: "小程序运行时会话（/runtime/v1 登录）的有效期，1m 到 720h", EN: "how long a mini program's runtime session (/runtime/v1 login) lives, 1m to 720h"},
	{Env: "PAY_MCHID", File: true, Commands: []string{"serve"}, Group: groupPay,
		ZH: "微信支付服务商商户号 sp_mchid；设了它，下列除地址外都必填（docs/wechat-pay.md）", EN: "the WeChat Pay provider merchant id (sp_mchid); with it, every pay setting below but the URLs is required (docs/wechat-pay.md)"},
	{Env: "PAY_APPID", File: true, Commands: []string{"serve"}, Group: groupPay,
		ZH: "服务商自己的 appid（sp_appid）", EN: "the provider's own appid (sp_appid)"},
	{Env: "PAY_CERT_SERIAL", File: true, Commands: []string{"serve"}, Group: groupPay,
		ZH: "商户 API 证书序列号", EN: "serial of the merchant API certificate"},
	{Env: "PAY_PRIVATE_KEY", File: true, Secret: true, Commands: []string{"serve"}, Group: groupPay,
		ZH: "商户 API 私钥（PEM），宜用 _FILE 给出；存入数据库时加密", EN: "the merchant API private key (PEM), best given by _FILE; sealed in the database"},
	{Env: "PAY_APIV3_KEY", File: true, Secret: true, Commands: []string{"serve"}, Group: groupPay,
		ZH: "APIv3 密钥（32 个字符），解密支付通知；存入数据库时加密", EN: "the APIv3 key (32 characters) that decrypts notifications; sealed in the database"},
	{Env: "PAY_PUBLIC_KEY_ID", File: true, Commands: []string{"serve"}, Group: groupPay,
		ZH: "微信支付公钥 ID（PUB_KEY_ID_…）", EN: "the WeChat Pay public key id (PUB_KEY_ID_…)"},
	{Env: "PAY_PUBLIC_KEY", File: true, Commands: []string{"serve"}, Group: groupPay,
		ZH: "微信支付公钥（PEM），用 _FILE 给出文件", EN: "the WeChat Pay public key (PEM); _FILE names a file"},
	{Env: "PAY_URL", File: true, Commands: []string{"serve"}, Group: groupPay, DefaultDoc: "https://api.mch.weixin.qq.com",
		ZH: "微信支付 API 地址（只写 http(s)://主机，演示时为沙箱）", EN: "the WeChat Pay API host, http(s)://host only (the sandbox in the demo)"},
	{Env: "PAY_NOTIFY_URL", File: true, Commands: []string{"serve"}, Group: groupPay, DefaultDoc: "PUBLIC_URL/pay/notify",
		ZH: "下单时的支付通知地址 notify_url（须 https）", EN: "the notify_url of orders (https on WeChat Pay)"},
	{Env: "PAY_RECONCILE_AFTER", File: true, Commands: []string{"serve"}, Group: groupPay, DefaultDoc: "5m",
		ZH: "下单后多久仍未收到支付通知就向微信支付查单并记录结果（1m 到 2h），每分钟检查一次", EN: "how long after an order is placed, still unpaid, WeChat Pay is asked about it and the answer recorded, in case the notification was lost (1m to 2h); checked every minute"},
	{Env: "PAY_CLOSE_AFTER", File: true, Commands: []string{"serve"}, Group: groupPay, DefaultDoc: "2h",
		ZH: "下单后多久仍未支付就关单：先查单（已支付则记为已支付），仍为 NOTPAY 则在微信支付关单并记为已关闭；须大于 PAY_RECONCILE_AFTER，至多 24h；每分钟检查一次", EN: "how long after an order is placed, still unpaid, it is closed: asked about first (recorded paid if it was), closed at WeChat Pay and here if still NOTPAY; more than PAY_RECONCILE_AFTER, at most 24h; checked every minute"},
	{Flag: "shutdown-drain", Env: "SHUTDOWN_DRAIN", File: true, Default: "5s", Commands: []string{"serve"}, Group: groupSurface,
		ZH: "收到 SIGTERM 后继续服务这么久，其间 /readyz 回 503 draining，让负载均衡不再转发；计入 25 秒的停止时间，最多其一半；0 立即停止监听", EN: "after SIGTERM keep serving this long with /readyz answering 503 draining, so load balancers stop sending; part of the 25 s stop, at most half of it; 0 = stop listening at once"},

	// Rollouts.
	{Flag: "rollout-rate", Env: "ROLLOUT_RATE", File: true, Default: "20", Commands: []string{"serve"}, Group: groupRollout,
		ZH: "批量发布每秒调用微信的次数上限，整个集群合计（0 不限）", EN: "calls per second rollouts make to WeChat, for the whole cluster; 0 = no bound"},
	{Flag: "rollout-api-rates", Env: "ROLLOUT_API_RATES", File: true, Commands: []string{"serve"}, Group: groupRollout,
		ZH: "单个接口的上限，如 /wxa/commit=5,/wxa/submit_audit=2", EN: "per-API bounds, e.g. /wxa/commit=5,/wxa/submit_audit=2"},
	{Flag: "rollout-workers", Env: "ROLLOUT_WORKERS", File: true, Commands: []string{"serve"}, Group: groupRollout,
		ZH: "本实例同时执行的发布步骤数（1–1000；默认 10，--rollout-rate 的一半更多时取一半，至多 200）",
		EN: "rollout steps run at once on this instance (1–1000; default 10, or half --rollout-rate when that is more, at most 200)"},
	{Flag: "audit-poll", Env: "AUDIT_POLL", File: true, Default: "10m", Commands: []string{"serve"}, Group: groupRollout,
		ZH: "没有推送告知结果时，多久查询一次审核状态（至少 1s）", EN: "how often an audit no push has decided is polled (at least 1s)"},

	// Logs.
	{Env: "LOG_LEVEL", File: true, DefaultDoc: "info", Commands: []string{"serve", "demo", "sandbox", "migrate", "backup", "restore", "rotate-key", "account"}, Group: groupLogs,
		ZH: "日志级别 debug、info、warn、error；任何级别都不记录秘密", EN: "log level debug, info, warn or error; no level logs a secret"},
	{Env: "LOG_FORMAT", File: true, DefaultDoc: "text", Commands: []string{"serve", "demo", "sandbox", "migrate", "backup", "restore", "rotate-key", "account"}, Group: groupLogs,
		ZH: "日志格式 text 或 json", EN: "log format text or json"},

	// Demo and sandbox.
	{Flag: "addr", Default: "127.0.0.1:8080", Commands: []string{"demo"}, Group: groupDemo,
		ZH: "demo 中平台的监听地址", EN: "the demo platform's listen address"},
	{Flag: "sandbox-addr", Default: "127.0.0.1:8081", Commands: []string{"demo"}, Group: groupDemo,
		ZH: "demo 中沙箱的监听地址", EN: "the demo sandbox's listen address"},
	{Flag: "data", Default: "wxfleet-data", Commands: []string{"demo"}, Group: groupDemo,
		ZH: "demo 的数据目录（平台数据库、主密钥、管理令牌、沙箱状态）", EN: "the demo's data directory (platform database, master key, admin token, sandbox state)"},
	{Flag: "ticket-interval", Default: "10m", Commands: []string{"demo"}, Group: groupDemo,
		ZH: "demo 中沙箱推送 component_verify_ticket 的周期", EN: "how often the demo's sandbox pushes component_verify_ticket"},
	{Flag: "seed-tenants", Default: "0", Commands: []string{"demo"}, Group: groupDemo,
		ZH: "演示数据：补足到这么多租户（含套餐、标签、订阅）", EN: "demo data: make tenants (with plans, tags, subscriptions) until there are this many"},
	{Flag: "seed-authorizers", Default: "0", Commands: []string{"demo"}, Group: groupDemo,
		ZH: "演示数据：补足到这么多占位授权方（状态 revoked，沙箱不认识），分配到租户", EN: "demo data: make placeholder authorizers (revoked, unknown to the sandbox) spread over the tenants until there are this many"},
	{Flag: "addr", Env: "SANDBOX_ADDR", File: true, Default: "127.0.0.1:8081", Commands: []string{"sandbox"}, Group: groupDemo,
		ZH: "沙箱的监听地址", EN: "the sandbox's listen address"},
	{Flag: "data", Default: "wxfleet-sandbox-data", Commands: []string{"sandbox"}, Group: groupDemo,
		ZH: "沙箱的状态目录，重启后状态仍在", EN: "the sandbox's state directory; its state survives restarts"},
	{Flag: "platform-url", Env: "PLATFORM_URL", File: true, Default: "http://127.0.0.1:8080", Commands: []string{"sandbox"}, Group: groupDemo,
		ZH: "接收沙箱推送的平台地址", EN: "the platform that receives the sandbox's pushes"},
	{Flag: "public-url", DefaultDoc: "http://ADDR", Commands: []string{"sandbox"}, Group: groupDemo,
		ZH: "浏览器访问沙箱的地址", EN: "URL browsers use to reach the sandbox"},
	{Flag: "ticket-interval", Env: "TICKET_INTERVAL", File: true, Default: "10m", Commands: []string{"sandbox"}, Group: groupDemo,
		ZH: "component_verify_ticket 推送周期", EN: "component_verify_ticket push period"},
	{Flag: "auth-domain", Env: "AUTH_DOMAIN", File: true, DefaultDoc: "--platform-url 的主机 / the host of --platform-url", Commands: []string{"sandbox"}, Group: groupDemo,
		ZH: "授权发起页域名：授权 redirect_uri 与发起页须在此主机上；\"*\" 为任意", EN: "the authorization domain: redirect_uri and the entry page must be on this host; \"*\" for any"},

	// Command-line tools.
	{Flag: "url", Env: "URL", File: true, DefaultDoc: "http://127.0.0.1:8080", Commands: apiCommands, Group: groupCLI,
		ZH: "rollout、fleet-action 与 template 命令连接的 wxfleet 地址", EN: "the wxfleet the rollout, fleet-action and template commands talk to"},
	{Flag: "token", Env: "ADMIN_TOKEN", File: true, DefaultDoc: "DATA/admin.token", Commands: apiCommands, Secret: true, Group: groupCLI,
		ZH: "rollout、fleet-action 与 template 命令使用的管理令牌（与 serve 的 WXFLEET_ADMIN_TOKEN 相同）", EN: "the admin token the rollout, fleet-action and template commands send (serve's WXFLEET_ADMIN_TOKEN)"},
	{Flag: "platform", Commands: apiCommands, Group: groupCLI,
		ZH: "运行多个平台时，指定平台的 component appid", EN: "component appid when several platforms run"},
	{Flag: "status", Bool: true, Commands: []string{"migrate"}, Group: groupCLI,
		ZH: "列出已执行与待执行的迁移（wxfleet 与 River），不做改动", EN: "list applied and pending migrations (wxfleet's and River's); change nothing"},
	{Flag: "to", Commands: []string{"migrate"}, Group: groupCLI,
		ZH: "把 wxfleet 的结构升或降到此版本（0：删除其表）", EN: "migrate wxfleet's schema up or down to this version (0: remove its tables)"},
	{Flag: "batch", Default: "100", Commands: []string{"rotate-key"}, Group: groupCLI,
		ZH: "rotate-key 每个事务重新加密的行数", EN: "rows rotate-key re-seals per transaction"},
	{Flag: "settle", Default: "15s", Commands: []string{"rotate-key"}, Group: groupCLI,
		ZH: "rotate-key 开始后至少等这么久再做最后一遍检查，让持有两把密钥的实例改用新密钥（它们每 5 秒查看一次）", EN: "how long after it began rotate-key waits before its final sweep, for instances holding both keys to switch to the new one (they look every 5 s)"},
	{Flag: "status", Bool: true, Commands: []string{"rotate-key"}, Group: groupCLI,
		ZH: "只显示轮换进度与尚未用新密钥加密的值的数量", EN: "only show the rotation's progress and how many values are not yet under the new key"},
	{Flag: "out", Commands: []string{"backup"}, Group: groupCLI,
		ZH: "备份写入此文件（不得已存在）", EN: "write the backup to this file (must not exist)"},
	{Flag: "from", Commands: []string{"restore"}, Group: groupCLI,
		ZH: "要恢复的备份文件（wxfleet 须已停止）", EN: "the backup file to restore (wxfleet stopped)"},
	{Flag: "email", Commands: []string{"account"}, Group: groupCLI,
		ZH: "帐号的电子邮件（登录名）", EN: "the account's email (its sign-in name)"},
	{Flag: "role", Commands: []string{"account"}, Group: groupCLI,
		ZH: "account create 的角色：owner、operator、viewer 或 merchant", EN: "account create's role: owner, operator, viewer or merchant"},
	{Flag: "tenant-id", Commands: []string{"account"}, Group: groupCLI,
		ZH: "商户帐号所属的租户", EN: "a merchant account's tenant"},
	{Flag: "name", Commands: []string{"account"}, Group: groupCLI,
		ZH: "控制台显示的名字", EN: "the person's name, shown in the console"},
	{Flag: "password-stdin", Bool: true, Commands: []string{"account"}, Group: groupCLI,
		ZH: "从标准输入的第一行读密码；不设则生成一个强密码并打印一次（密码从不放在命令行参数里）", EN: "read the password from standard input's first line; without it a strong one is generated and printed once (never on the command line)"},
	{Flag: "url", DefaultDoc: "http://ADDR/readyz", Commands: []string{"healthcheck"}, Group: groupCLI,
		ZH: "要探测的地址", EN: "URL to probe"},
	{Flag: "timeout", Default: "5s", Commands: []string{"healthcheck"}, Group: groupCLI,
		ZH: "超过此时间即失败", EN: "give up after this long"},

	// For the tests only: make `wxfleet serve` as a subprocess quick.
	{Env: "TEST_JOB_TIMEOUT_SCALE", Commands: []string{"serve"}, Test: true, Group: groupTest,
		ZH: "River 任务超时的缩放系数 (0, 1]，供杀进程的测试使用", EN: "scale of River's job timeouts in (0, 1], for the tests that kill serve"},
	{Env: "TEST_JOB_POLL_INTERVAL", Commands: []string{"serve"}, Test: true, Group: groupTest,
		ZH: "River 取任务的轮询间隔", EN: "River's job poll interval"},
	{Env: "TEST_AUDIT_POLL_INTERVAL", Commands: []string{"serve"}, Test: true, Group: groupTest,
		ZH: "审核状态轮询间隔", EN: "the audit poll interval"},
	{Env: "TEST_ROLLOUT_RETRY_BASE", Commands: []string{"serve"}, Test: true, Group: groupTest,
		ZH: "发布步骤重试的基础等待", EN: "the base wait of rollout step retries"},
	{Env: "TEST_ROLLOUT_QUOTA_WAIT", Commands: []string{"serve"}, Test: true, Group: groupTest,
		ZH: "审核额度用尽时的等待", EN: "the wait when the audit quota is used up"},
	{Env: "TEST_ROLLOUT_SETTLE_TIME", Commands: []string{"serve"}, Test: true, Group: groupTest,
		ZH: "发布后等待微信状态稳定的时间", EN: "how long a release waits for WeChat to settle"},
	{Env: "TEST_WECHAT_TIMEOUT", Commands: []string{"serve"}, Test: true, Group: groupTest,
		ZH: "调用微信的超时", EN: "the timeout of calls to WeChat"},
	{Env: "TEST_ROTATE_PAUSE", Commands: []string{"rotate-key"}, Test: true, Group: groupTest,
		ZH: "rotate-key 每批之后暂停，让测试在中途杀掉它", EN: "a pause after each rotate-key batch, so a test can kill it in the middle"},
}

// settingByEnv finds the row of WXFLEET_<name>.
func settingByEnv(name string) (setting, bool) {
	for _, s := range settingTable {
		if s.Env == name {
			return s, true
		}
	}
	return setting{}, false
}

// knownEnv lists every WXFLEET_* variable (after the prefix) the commands
// read, once each, in table order.
func knownEnv() []string {
	var out []string
	for _, s := range settingTable {
		if s.Env != "" && !s.Test && !slices.Contains(out, s.Env) {
			out = append(out, s.Env)
		}
	}
	return out
}

func (s setting) accepts(cmd string) bool {
	return slices.Contains(s.Commands, cmd) || slices.Contains(s.Ignored, cmd)
}

// usage is the flag's help line for cmd: the meaning and the variable.
func (s setting) usage(cmd string) string {
	if !slices.Contains(s.Commands, cmd) {
		return "ignored here (accepted so that serve's command line works)"
	}
	u := s.EN
	if d := s.DefaultDoc; d != "" {
		if _, en, ok := strings.Cut(d, " / "); ok {
			d = en
		}
		u += "; default " + d
	}
	if s.Env != "" {
		u += " (WXFLEET_" + s.Env + ")"
	}
	return u
}

// cmdSettings are one command's settings: its flag set, built from the
// table, and the environment.
type cmdSettings struct {
	cmd string
	fs  *flag.FlagSet
	e   *env
}

// newCmdSettings makes cmd's flag set (named name, e.g. "rollout create")
// with every table flag cmd accepts; the command may add arguments of its
// own that are not settings (rollout create's).
func newCmdSettings(cmd, name string, e *env, stderr io.Writer) *cmdSettings {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, s := range settingTable {
		if s.Flag == "" || !s.accepts(cmd) {
			continue
		}
		if s.Bool {
			fs.Bool(s.Flag, s.Default == "true", s.usage(cmd))
		} else {
			fs.String(s.Flag, s.Default, s.usage(cmd))
		}
	}
	c := &cmdSettings{cmd: cmd, fs: fs, e: e}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of wxfleet %s:\n", name)
		fs.PrintDefaults()
		var vars []string
		for _, s := range settingTable {
			if s.Flag == "" && !s.Test && slices.Contains(s.Commands, cmd) {
				vars = append(vars, "WXFLEET_"+s.Env)
			}
		}
		if len(vars) > 0 {
			fmt.Fprintf(fs.Output(), "Environment (also *_FILE): %s\nSee docs/configuration.md.\n", strings.Join(vars, ", "))
		}
	}
	return c
}

// row finds cmd's setting called name: its flag, or for a variable-only
// setting its variable (after WXFLEET_). Asking for a setting the table
// does not give cmd is a bug, so it panics (every command's tests reach it).
func (c *cmdSettings) row(name string) setting {
	for _, s := range settingTable {
		if s.accepts(c.cmd) && (s.Flag == name || (s.Flag == "" && s.Env == name)) {
			return s
		}
	}
	panic(fmt.Sprintf("wxfleet %s: setting %q is not in settingTable (cmd/wxfleet/settings.go)", c.cmd, name))
}

// get returns a setting: the flag if given on the command line, else the
// variable (or its _FILE), else the default.
func (c *cmdSettings) get(name string) (string, error) {
	s := c.row(name)
	if s.Flag != "" {
		set := false
		c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == s.Flag })
		if set {
			return c.fs.Lookup(s.Flag).Value.String(), nil
		}
	}
	if s.Env != "" {
		v, err := c.e.get(s.Env)
		if err != nil || v != "" {
			return v, err
		}
	}
	return s.Default, nil
}

// bool returns a Bool flag.
func (c *cmdSettings) bool(name string) bool {
	s := c.row(name)
	return c.fs.Lookup(s.Flag).Value.String() == "true"
}
