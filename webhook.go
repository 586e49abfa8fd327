package wxfleet

import (
	"encoding/json"
	"time"
)

// WebhookEndpoint is a URL of the ISV's (or one tenant's) systems that
// receives signed events: what happened to authorizers, audits, releases,
// user messages and subscriptions (see docs/webhooks.md).
type WebhookEndpoint struct {
	ID             string
	ComponentAppID string
	// TenantID is the tenant whose events alone the endpoint receives; 0:
	// every event of the platform (the ISV's own systems).
	TenantID int64
	URL      string
	// Events are the event types subscribed to; "*" is every type.
	Events      []string
	Secret      Secret // signs the deliveries (HMAC-SHA256); sealed at rest
	Disabled    bool
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Wants reports whether the endpoint subscribes to events of type typ.
func (e *WebhookEndpoint) Wants(typ string) bool {
	for _, t := range e.Events {
		if t == "*" || t == typ {
			return true
		}
	}
	return false
}

// WebhookEvent is one event in the outbox, as every endpoint receives it:
// Payload is the exact JSON body of each delivery, the same bytes on every
// attempt.
type WebhookEvent struct {
	ID             string
	ComponentAppID string
	Type           string
	AppID          string
	TenantID       int64
	Payload        json.RawMessage
	CreatedAt      time.Time
}

// DeliveryStatus is where one delivery of an event to an endpoint stands.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // queued or being retried
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver answered 2xx
	DeliveryDead      DeliveryStatus = "dead"      // every attempt failed: the dead-letter list
)

// Valid reports whether s is one of the statuses above.
func (s DeliveryStatus) Valid() bool {
	return s == DeliveryPending || s == DeliveryDelivered || s == DeliveryDead
}

// WebhookDelivery is one event on its way to one endpoint. Its ID is sent
// as X-Wxfleet-Delivery on every attempt, manual redeliveries included: it
// is the receiver's idempotency key.
type WebhookDelivery struct {
	ID             string
	EndpointID     string
	ComponentAppID string
	TenantID       int64 // the endpoint's
	EventID        string
	EventType      string
	Status         DeliveryStatus
	Attempts       int
	LastStatusCode int // HTTP status of the last attempt; 0 when none came back
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeliveredAt    time.Time
	// AttemptLog is filled by the reads that say so.
	AttemptLog []WebhookAttempt
}

// WebhookAttempt is one try of a delivery.
type WebhookAttempt struct {
	Attempt    int
	StatusCode int    // 0: no response (refused, timed out)
	Error      string // "" when the receiver answered 2xx
	Duration   time.Duration
	At         time.Time
}
