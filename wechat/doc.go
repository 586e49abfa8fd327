// Package wechat is wxfleet's own thin, typed client for WeChat's server APIs
// (api.weixin.qq.com) as a third-party platform (第三方平台, "component") calls
// them: the component and authorizer tokens, authorization, customer-service
// messages, and a raw Forward for any other api.weixin.qq.com path.
//
// Every call takes a context, runs each HTTP attempt under its own timeout,
// retries WeChat's "system busy" (errcode -1) and network errors with
// exponential backoff and jitter, and turns any other errcode into a *Error
// (reachable with errors.As) carrying the code, the message and the rid. A
// network failure after the request may have reached WeChat (a timeout, a
// reset) is retried only for calls that do no harm twice (reads, new tokens
// and pre_auth_codes); a customer-service message or a refresh-token
// exchange is retried only when the connection was never made.
//
// Calls that need an access token take a TokenSource instead of a string: when
// WeChat rejects the token (40001, 40014, 42001) the client tells the source,
// asks it for a fresh token and retries exactly once.
//
// Nothing secret is ever logged: access tokens are stripped from logged URLs
// (see RedactURL), request bodies are never logged, and the token-bearing
// response types redact themselves when handed to log/slog.
//
// The package talks to whatever Hosts it is given, so the same code runs
// against WeChat (DefaultHosts) and against wxfleet's sandbox (SingleHost).
package wechat
