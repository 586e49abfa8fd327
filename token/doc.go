// Package token keeps every token alive: the component_access_token (第三方平台
// 令牌) of each platform and the authorizer_access_token (授权方令牌) of every
// mini program that authorized one. Tokens are refreshed before they expire by
// River jobs; a database lease (package lease, one owner token per
// acquisition) makes sure only one goroutine of one instance refreshes a given
// token at a time, callers of one process asking at once share one refresh,
// and a rotated refresh token is saved in the same statement as the access
// token it came with.
//
// # Pacing
//
// What bounds refreshing is WeChat's call rate for api_authorizer_token, so
// that is what the configuration sets (Rate, calls per second per platform
// for the whole cluster), not a batch size. The cluster is paced by one
// schedule in the database rather than by limiters in each process: a pacer
// row per platform holds the next free call slot, and reserving slots is one
// statement, so however many instances run, and even when two sweeps overlap
// during a leader change, no two calls get the same slot. More instances add
// workers to keep to the schedule, never calls beyond it.
//
// The River leader sweeps every SweepInterval. Per platform it fills the
// schedule up to horizon ahead: it pages through the due authorizers in the
// store (a cursor, no cap but the budget the rate gives), skipping those whose
// refresh is already queued or whose retry is not due yet, healthy ones first
// and soonest expiry first, then the failing ones; each job gets the next slot,
// 1/Rate apart. A job becomes available lead before its slot (River's
// scheduler runs every 5 s) and the worker waits for the slot, so calls are
// spread evenly instead of in River's batches; a job that starts more than
// lateSlot after its slot gives the call back to the schedule rather than
// add to a burst. 100,000 tokens due at once thus take 100,000/Rate seconds,
// 1,000 s at 100 a second, within the 20 minutes of Margin. A token asked for
// after it expired (Keeper.AuthorizerToken) is refreshed at once, outside the
// schedule: that should not happen while the schedule keeps up.
//
// # Failures
//
// Which authorizers are queued or failing is kept in the store
// (authorizer_refresh), not in River: a failing authorizer is not retried by
// River but swept again after a backoff (RetryStep per consecutive failure, at
// most RetryMax), after the healthy ones, so it never holds up the others. The
// Breaker, the keeper's Guard, records every failure (errcode, message, time,
// count), logs it at WARN with what to do (once per authorizer per 10 minutes,
// plus a summary each minute), and pauses api_authorizer_token for the whole
// platform, in the database so every instance sees it, when most recent calls
// for authorizers not failing before fail with a quota or outage error. While
// paused, nothing is scheduled and queued jobs give their calls back; every
// PauseFor one probe call, claimed in the database, tells whether it cleared.
package token
