// Package webhook sends events out: the ISV's and its tenants' systems
// subscribe URLs (endpoints) to what happens on the platform — authorizations,
// audit results, releases, user messages, subscriptions — and receive each
// event as a signed JSON POST, retried with backoff until the receiver
// answers 2xx, then dead-lettered for a person to redeliver
// (docs/webhooks.md).
//
// An event is written to an outbox table, with one delivery row and one
// River job per matching endpoint, in the transaction of the state change it
// reports (Service.Emit): an event exists if and only if what it reports was
// committed, and is delivered at least once. Every attempt of one delivery,
// manual redeliveries included, carries the same X-Wxfleet-Delivery id: the
// receiver's idempotency key.
package webhook

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event types.
const (
	AuthorizerAuthorized   = "authorizer.authorized"   // a mini program authorized the platform
	AuthorizerUnauthorized = "authorizer.unauthorized" // its merchant cancelled the authorization
	AuthorizerUpdated      = "authorizer.updated"      // the authorization changed (permissions)
	AuditSuccess           = "audit.success"           // WeChat approved a submitted version
	AuditFail              = "audit.fail"              // WeChat rejected it
	AuditDelay             = "audit.delay"             // WeChat's audit takes longer
	ReleaseDone            = "release.done"            // a rollout released an app's new version
	MessageReceived        = "message.received"        // a user sent a mini program a message
	SubscriptionExpiring   = "subscription.expiring"   // a tenant's plan ends soon
	SubscriptionExpired    = "subscription.expired"    // it ended
	TenantSuspended        = "tenant.suspended"        // the tenant was suspended
	PayPaid                = "pay.paid"                // a WeChat Pay order was paid (its notification, or a query)
	PayRefund              = "pay.refund"              // WeChat Pay notified a refund's result
	PayClosed              = "pay.closed"              // an unpaid WeChat Pay order was closed (by hand, the auto-close, or found closed)
	// AllEvents subscribes an endpoint to every type, present and future.
	AllEvents = "*"
)

// Types are the event types an endpoint can subscribe to.
var Types = []string{
	AuthorizerAuthorized, AuthorizerUnauthorized, AuthorizerUpdated,
	AuditSuccess, AuditFail, AuditDelay, ReleaseDone, MessageReceived,
	SubscriptionExpiring, SubscriptionExpired, TenantSuspended, PayPaid, PayRefund, PayClosed,
}

func knownType(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// Event is something that happened, as a feature emits it.
type Event struct {
	// ID identifies the event; "" → a random one. Set it with EventID from
	// what identifies the happening when the code that emits may run twice
	// for it (a push WeChat retries, a job River retries): the second emit
	// of an id changes nothing.
	ID   string
	Type string
	// ComponentAppID is the platform. "" for an event of a tenant rather
	// than of one platform (subscriptions): it goes to the tenant's
	// endpoints and the ISV's of every platform.
	ComponentAppID string
	AppID          string // the authorizer it is about, if any
	// TenantID is the tenant it is about; 0 → the tenant of AppID, if any.
	// An endpoint of a tenant receives that tenant's events only.
	TenantID  int64
	CreatedAt time.Time // zero → now
	Data      any       // the type's details, encoded as JSON
}

// payload is an event as every endpoint receives it: the request body.
type payload struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	CreatedAt      time.Time `json:"created_at"`
	ComponentAppID string    `json:"component_appid,omitempty"`
	AppID          string    `json:"appid,omitempty"`
	TenantID       int64     `json:"tenant_id,omitempty"`
	Data           any       `json:"data"`
}

func (ev *Event) body() ([]byte, error) {
	data := ev.Data
	if data == nil {
		data = struct{}{}
	}
	b, err := json.Marshal(payload{ID: ev.ID, Type: ev.Type, CreatedAt: ev.CreatedAt.UTC(), ComponentAppID: ev.ComponentAppID,
		AppID: ev.AppID, TenantID: ev.TenantID, Data: data})
	if err != nil {
		return nil, fmt.Errorf("webhook: encode event %s: %w", ev.Type, err)
	}
	return b, nil
}

// EventID is the id of the event identified by parts (its type first, then
// what tells the happening apart: the platform, the app, a push's dedup key,
// ...): the same parts give the same id.
func EventID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "evt_" + hex.EncodeToString(sum[:16])
}

// newID is prefix, the time in milliseconds (12 hex digits: ids sort by
// creation) and 64 random bits.
func newID(prefix string, now time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s%012x%s", prefix, now.UnixMilli(), hex.EncodeToString(b[:]))
}

// newSecret is an endpoint's signing secret: 256 random bits.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "whsec_" + hex.EncodeToString(b[:])
}
