// Package payg is the lease and token engine: customers, devices,
// contracts and the payments applied to them. Its Service holds the rules
// that touch more than one row (the one-transaction payment path, token
// issuance, suspense); the stores (core/sqlite, core/postgres) implement its
// narrow Store and Tx interfaces and hold no business logic. The money
// arithmetic itself is the pure package core/lease.
package payg

import (
	"encoding/json"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

// Customer is a person paying for devices. The CRM stays master of customer
// data; ExternalID is the CRM's id.
type Customer struct {
	ID         string
	TenantID   string
	ExternalID string
	Name       string
	// Phone in E.164 (+254700000123). PhoneHash is the hex SHA-256 of the
	// phone's digits without '+', as M-Pesa C2B v1 sends payers.
	Phone     string
	PhoneHash string
	// Language is a BCP 47 tag for messages (en, fr, sw, pt).
	Language  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TokenScheme says how a device is unlocked.
type TokenScheme string

// Token schemes.
const (
	SchemeOpenPAYGO TokenScheme = "openpaygo"
	SchemeNexus     TokenScheme = "nexus" // Nexus keycode, full protocol (credit in hours)
	SchemeNone      TokenScheme = "none"  // no token: the device is unlocked by other means
)

// Device is a unit in the field and its token state.
type Device struct {
	ID         string
	TenantID   string
	ExternalID string
	Serial     string
	Scheme     TokenScheme
	// SealedKey is the device's secret key encrypted by core/secretbox
	// with the device id as associated data. Never logged, never returned
	// by the API.
	SealedKey []byte
	// StartingCode and ValueDivider are OpenPAYGO parameters (divider:
	// activation units per day).
	StartingCode int64
	ValueDivider int
	Restricted   bool
	// Counter is the OpenPAYGO count of the last token issued, or the last
	// Nexus message id used. It only grows, advanced under a row lock in
	// the transaction that stores the token.
	Counter int64
	// TokenCarry is credit time paid for but not yet put in a token, in
	// seconds × ValueDivider (OpenPAYGO) or seconds (Nexus): tokens carry
	// whole units (1/divider day, 1 hour) and the rest waits for the next
	// payment, so no fraction is lost to rounding. Negative after a
	// reversal took back time the device already had.
	TokenCarry int64
	// Unlocked is set once a permanent unlock token has been issued.
	Unlocked  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Plan is a catalogue price plan. A contract takes a snapshot of it, so
// later changes never alter a running contract.
type Plan struct {
	ID         string
	TenantID   string
	ExternalID string
	Name       string
	Terms      lease.Plan
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Contract is a lease: one customer, one or more devices, a snapshot of
// its plan, and the balances that are a fold of its ledger.
type Contract struct {
	ID         string
	TenantID   string
	ExternalID string
	// AccountNumber is what the customer types when paying.
	AccountNumber string
	CustomerID    string
	DeviceIDs     []string
	// PlanID is the catalogue plan the contract was made from, if any;
	// Plan is the snapshot that governs it.
	PlanID string
	Plan   lease.Plan
	State  lease.State
	// AnnouncedStatus is the status (late and defaulted included) last
	// told in a contract.status_changed event. Payments keep it current;
	// SweepStatuses announces what time alone changes (active → late →
	// defaulted).
	AnnouncedStatus lease.Status
	// Version counts changes to the contract row; it guards concurrent
	// writers (optimistic check on top of the row lock).
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PaymentStatus is where a payment stands in the gateway.
type PaymentStatus string

// Payment statuses.
const (
	PaymentApplied   PaymentStatus = "applied"   // allocated to a contract
	PaymentSuspense  PaymentStatus = "suspense"  // kept in the suspense queue
	PaymentReversed  PaymentStatus = "reversed"  // applied, then reversed
	PaymentRefunded  PaymentStatus = "refunded"  // suspense money given back
	PaymentFailed    PaymentStatus = "failed"    // the provider says no money moved
	PaymentPending   PaymentStatus = "pending"   // not final at the provider
	PaymentMalformed PaymentStatus = "malformed" // quarantined: genuine but unreadable
)

// ManualInstance is the instance name of payments entered through the API
// (cash, bank transfer).
const ManualInstance = "manual"

// Payment is money received (or announced) by a provider, exactly as
// noticed, with what the gateway did with it.
type Payment struct {
	ID       string
	TenantID string
	// Instance and ProviderTxID are the deduplication key.
	Instance        string
	ProviderTxID    string
	RequestID       string
	Status          PaymentStatus
	Amount          core.Money
	AccountRef      string
	PayerMSISDN     string
	PayerMSISDNHash string
	PayerName       string
	// ContractID is set when the payment was applied.
	ContractID string
	OccurredAt time.Time
	ReceivedAt time.Time
	Reason     string
	Raw        []byte
}

// SuspenseReason says why a payment could not be applied.
type SuspenseReason string

// Suspense reasons.
const (
	SuspenseUnknownAccount   SuspenseReason = "unknown_account"
	SuspenseAmbiguous        SuspenseReason = "ambiguous_payer" // the payer's phone matches several contracts
	SuspenseContractClosed   SuspenseReason = "contract_closed"
	SuspenseCurrencyMismatch SuspenseReason = "currency_mismatch"
	SuspenseBelowMinimum     SuspenseReason = "below_minimum"
)

// SuspenseStatus is the state of a suspense item.
type SuspenseStatus string

// Suspense statuses.
const (
	SuspenseOpen     SuspenseStatus = "open"
	SuspenseMatched  SuspenseStatus = "matched"
	SuspenseRefunded SuspenseStatus = "refunded"
)

// SuspenseItem is a payment that could not be applied, kept until an
// operator matches it to a contract or refunds it.
type SuspenseItem struct {
	ID         string
	TenantID   string
	PaymentID  string
	Reason     SuspenseReason
	Detail     string
	Status     SuspenseStatus
	ContractID string // set when matched
	CreatedAt  time.Time
	ResolvedAt time.Time
}

// TokenStatus is the life of a token.
type TokenStatus string

// Token statuses.
const (
	TokenIssued  TokenStatus = "issued"
	TokenPending TokenStatus = "pending" // waiting for a vendor's cloud
	TokenFailed  TokenStatus = "failed"
)

// Token is an unlock code issued for a device.
type Token struct {
	ID         string
	TenantID   string
	DeviceID   string
	ContractID string
	PaymentID  string // empty for manual tokens
	Scheme     TokenScheme
	// Type is the scheme's own name: ADD_TIME, SET_TIME, DISABLE_PAYG,
	// COUNTER_SYNC (OpenPAYGO); ADD_CREDIT, UNLOCK (Nexus).
	Type string
	// Value is the raw value encoded: OpenPAYGO activation units
	// (days × divider), Nexus hours.
	Value int64
	// Seconds is the credit time the token carries (0 for unlocks).
	Seconds int64
	// Count is the OpenPAYGO count or Nexus message id of this token (a
	// token vendor's: the device's local token sequence).
	Count  int64
	Code   string
	Status TokenStatus
	// FailureReason says why a failed token failed (the vendor's words).
	FailureReason string
	CreatedAt     time.Time
	// SettledAt is when a vendor's pending token became issued or failed;
	// zero for tokens issued at once.
	SettledAt time.Time
}

// Event is a domain event, written in the transaction that caused it. It is
// the outbox from which webhooks and messages are delivered.
type Event struct {
	ID       string
	TenantID string
	Type     string
	// ContractID and Seq order a contract's events: Seq is 1, 2, 3, … per
	// contract, assigned by the store. Zero for events without a contract.
	ContractID string
	Seq        int64
	Data       json.RawMessage
	CreatedAt  time.Time
}

// Event types.
const (
	EventPaymentReceived       = "payment.received"
	EventPaymentApplied        = "payment.applied"
	EventPaymentUnmatched      = "payment.unmatched"
	EventPaymentReversed       = "payment.reversed"
	EventPaymentRefunded       = "payment.refunded"
	EventContractStatusChanged = "contract.status_changed"
	EventContractPaidOff       = "contract.paid_off"
	EventTokenIssued           = "token.issued"
	EventTokenFailed           = "token.failed"
)

// Quarantined is a provider callback that passed verification but could not
// be read (no amount, no status, no id): nothing was applied from it, the
// provider was answered as it expects, and it waits here, raw body and all,
// for an operator.
type Quarantined struct {
	ID       string
	TenantID string
	Instance string
	Kind     string
	Reason   string
	// What could be read of the payment it is about.
	RequestID    string
	ProviderRef  string
	ProviderTxID string
	Method       string
	RemoteAddr   string
	// Headers are the request's headers less credentials.
	Headers    map[string][]string
	Body       []byte
	Status     string // open or resolved
	ReceivedAt time.Time
	ResolvedAt time.Time
}
