// Package messaging sends the customer's text messages: payment
// confirmations, token notices, reminders before and after a due date and
// bulk campaigns. A message is rendered from a template in the customer's
// language and stored, with the durable job that sends it, in the
// transaction of its cause; the cause key is unique, so a cause never sends
// twice. The send job calls the tenant's SMS instance (an
// adapters.SMSSender) through a circuit breaker and a rate limit, and the
// provider's delivery reports move the message forward, never back.
package messaging

import (
	"context"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// State is where a message stands.
type State string

// Message states: queued → sent → delivered | failed; rejected when the
// provider refused it for good. Delivered, failed and rejected are final.
// Unknown is a message whose send was cut off between the provider call
// and the record of its outcome (the gateway died): the provider may have
// taken it, and it is not sent again by itself (see UnknownOutcome); it
// is queued again only on request (Service.Resend), as a failed one may
// be.
const (
	StateQueued    State = "queued"
	StateSent      State = "sent"
	StateDelivered State = "delivered"
	StateFailed    State = "failed"
	StateRejected  State = "rejected"
	StateUnknown   State = "unknown"
)

// Final reports whether nothing may change s any more.
func (s State) Final() bool {
	return s == StateDelivered || s == StateFailed || s == StateRejected
}

func (s State) rank() int {
	switch s {
	case StateQueued:
		return 0
	case StateSent:
		return 1
	}
	return 2
}

// Advance returns the state a message in from is in after a report of to:
// to when it moves the message forward, from otherwise (a final state is
// never changed, and a sent message never goes back to queued).
func Advance(from, to State) (State, bool) {
	if from.Final() || to.rank() <= from.rank() {
		return from, false
	}
	return to, true
}

// FromSMSState maps a provider's normalised state onto a message state.
// SMSRetry has no message state (the message stays queued).
func FromSMSState(s adapters.SMSState) (State, bool) {
	switch s {
	case adapters.SMSAccepted, adapters.SMSSent:
		return StateSent, true
	case adapters.SMSDelivered:
		return StateDelivered, true
	case adapters.SMSFailed:
		return StateFailed, true
	case adapters.SMSRejected:
		return StateRejected, true
	}
	return "", false
}

// Message is one text to one customer.
type Message struct {
	ID         string
	TenantID   string
	CustomerID string // empty for a payer who is not a customer
	ContractID string
	CampaignID string
	// CauseKey is unique: what caused the message, e.g. "evt_…:payment_received",
	// "reminder:con_…:2026-03-20:-3", "cmp_…:con_…".
	CauseKey string
	Template string // the template's name; empty for a campaign's own body
	Language string
	To       string // E.164
	Body     string
	Encoding Encoding
	Segments int
	State    State
	// Instance is the SMS instance that took the message (the secondary
	// when the primary's breaker was open), ProviderID its id there.
	Instance       string
	ProviderID     string
	ProviderStatus string
	// Reason is the provider's code and reason for a refusal or failure.
	Reason string
	// Attempts counts the sends to a provider.
	Attempts  int
	CreatedAt time.Time
	UpdatedAt time.Time
	SentAt    time.Time // zero until a provider took it
	FinalAt   time.Time // zero until it reached a final state
	// SendingAt is set, in a commit of its own, just before a provider is
	// called for the queued message, and cleared when the outcome is
	// recorded: a send job that finds it set on a queued message knows
	// an earlier attempt's outcome is unknown. An unknown message keeps
	// it (when that attempt began).
	SendingAt time.Time
}

// Query filters a message list; zero fields do not filter.
type Query struct {
	CustomerID string
	ContractID string
	CampaignID string
	State      State
}

// CampaignState is where a campaign stands.
type CampaignState string

// Campaign states: pending until its recipients are chosen, running while
// its messages are queued or sent, done when each has a final state or was
// sent (delivery reports may still arrive).
const (
	CampaignPending CampaignState = "pending"
	CampaignRunning CampaignState = "running"
	CampaignDone    CampaignState = "done"
)

// CampaignFilter chooses a campaign's contracts; zero fields do not filter.
type CampaignFilter struct {
	// Statuses are contract statuses, late and defaulted included.
	Statuses []string `json:"statuses,omitempty"`
	// MinDaysInArrears and MaxDaysInArrears bound the days in arrears
	// (MaxDaysInArrears nil: no upper bound).
	MinDaysInArrears int  `json:"min_days_in_arrears,omitempty"`
	MaxDaysInArrears *int `json:"max_days_in_arrears,omitempty"`
	// PlanIDs are catalogue plans.
	PlanIDs []string `json:"plan_ids,omitempty"`
}

// Campaign is a bulk send: a template (or a body) to the contracts a
// filter chooses.
type Campaign struct {
	ID       string
	TenantID string
	Name     string
	Template string
	Body     string
	Filter   CampaignFilter
	State    CampaignState
	// Recipients counts the messages queued; Skipped the chosen contracts
	// that got none (no phone, a message already queued for them).
	Recipients  int
	Skipped     int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt time.Time
}

// Tx is what messaging writes in a business transaction. The SQL stores'
// payg.Tx implements it; messaging type-asserts it.
type Tx interface {
	payg.Tx
	// InsertMessage stores m unless its CauseKey is taken, and reports
	// whether it did.
	InsertMessage(ctx context.Context, m Message) (bool, error)
	// LockMessage and LockMessageByProvider read a message under a row
	// lock; ENOTFOUND when there is none.
	LockMessage(ctx context.Context, tenant, id string) (Message, error)
	LockMessageByProvider(ctx context.Context, instance, providerID string) (Message, error)
	// UpdateMessage stores m's state, provider fields, reason, attempts and
	// times (SendingAt included).
	UpdateMessage(ctx context.Context, m Message) error
	// Rejected reports whether a message of tenant to the number was
	// rejected by a provider (an invalid or blacklisted number).
	Rejected(ctx context.Context, tenant, to string) (bool, error)
	InsertCampaign(ctx context.Context, c Campaign) error
	LockCampaign(ctx context.Context, tenant, id string) (Campaign, error)
	UpdateCampaign(ctx context.Context, c Campaign) error
}

// Store is the messages' store: transactions (whose Tx is a messaging.Tx)
// and reads.
type Store interface {
	payg.Store
	Message(ctx context.Context, tenant, id string) (Message, error)
	// MarkSending sets the message's SendingAt to at and its Instance to
	// instance in one committed write, only while it is queued with no
	// SendingAt; it reports whether it did (false: the message moved on,
	// or another attempt is in flight).
	MarkSending(ctx context.Context, tenant, id, instance string, at time.Time) (bool, error)
	ListMessages(ctx context.Context, tenant string, q Query, page core.PageRequest) (core.Page[Message], error)
	Campaign(ctx context.Context, tenant, id string) (Campaign, error)
	// CampaignCounts counts a campaign's messages by state.
	CampaignCounts(ctx context.Context, tenant, id string) (map[State]int, error)
}
