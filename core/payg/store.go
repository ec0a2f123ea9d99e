package payg

import (
	"context"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

// Store gives the Service transactions. Implemented by core/sqlite and
// core/postgres; core/storetest checks both.
type Store interface {
	// InTx runs fn in one write transaction and commits if fn returns nil.
	// A transaction that loses a race (serialization failure, deadlock,
	// a unique key taken by a concurrent commit) returns an error whose
	// core.ErrorCode is ECONFLICT or EUNAVAILABLE; the Service decides
	// whether to retry.
	InTx(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Reader) error) error
}

// GroupStore is a Store that can commit concurrent callers' transactions
// together (SQLite: one fsync for several payments). InGroupTx is InTx
// whose fn may share the transaction with other callers' fns, each undone
// alone if it fails; it returns after fn's writes are durable. The Service
// uses it for its own transactions when the store offers it.
type GroupStore interface {
	Store
	InGroupTx(ctx context.Context, fn func(Tx) error) error
}

// Reader is the read side, scoped by tenant: a row of another tenant is
// ENOTFOUND.
type Reader interface {
	Customer(ctx context.Context, tenant, id string) (Customer, error)
	CustomerByExternalID(ctx context.Context, tenant, externalID string) (Customer, error)
	DeviceByExternalID(ctx context.Context, tenant, externalID string) (Device, error)
	ContractByExternalID(ctx context.Context, tenant, externalID string) (Contract, error)
	Plan(ctx context.Context, tenant, id string) (Plan, error)
	Device(ctx context.Context, tenant, id string) (Device, error)
	DeviceBySerial(ctx context.Context, tenant, serial string) (Device, error)
	Contract(ctx context.Context, tenant, id string) (Contract, error)
	ContractByAccount(ctx context.Context, tenant, account string) (Contract, error)
	// ContractsByDevice lists the contracts a device belongs to.
	ContractsByDevice(ctx context.Context, tenant, deviceID string) ([]Contract, error)
	// ContractsByPhoneHash lists open contracts of customers whose phone
	// hashes to hash.
	ContractsByPhoneHash(ctx context.Context, tenant, hash string) ([]Contract, error)
	Payment(ctx context.Context, tenant, id string) (Payment, error)
	// PaymentByKey finds a payment by its deduplication key, in any tenant
	// (instance names are global).
	PaymentByKey(ctx context.Context, instance, providerTxID string) (Payment, error)
	LedgerLines(ctx context.Context, tenant, contractID string) ([]LedgerLine, error)
	Tokens(ctx context.Context, tenant, contractID string) ([]Token, error)
	Token(ctx context.Context, tenant, id string) (Token, error)
	SuspenseItem(ctx context.Context, tenant, id string) (SuspenseItem, error)

	// Lists return one page in a stable order: creation time then id
	// (payments: received time; contracts changed since a time: update
	// time).
	ListCustomers(ctx context.Context, tenant string, page core.PageRequest) (core.Page[Customer], error)
	ListDevices(ctx context.Context, tenant string, page core.PageRequest) (core.Page[Device], error)
	ListPlans(ctx context.Context, tenant string, page core.PageRequest) (core.Page[Plan], error)
	ListContracts(ctx context.Context, tenant string, q ContractQuery, page core.PageRequest) (core.Page[Contract], error)
	ListPayments(ctx context.Context, tenant string, q PaymentQuery, page core.PageRequest) (core.Page[Payment], error)
	// ListSuspense lists suspense items, all when status is "".
	ListSuspense(ctx context.Context, tenant string, status SuspenseStatus, page core.PageRequest) (core.Page[SuspenseItem], error)
	ListEvents(ctx context.Context, tenant string, q EventQuery, page core.PageRequest) (core.Page[Event], error)
	ListQuarantine(ctx context.Context, tenant string, page core.PageRequest) (core.Page[Quarantined], error)

	// PaymentRequest returns one payment request of tenant.
	PaymentRequest(ctx context.Context, tenant, id string) (PaymentRequest, error)
	// PaymentRequestByRequestID finds a payment request by the id the
	// provider's callbacks carry, in any tenant (instance names are
	// global); ENOTFOUND if there is none.
	PaymentRequestByRequestID(ctx context.Context, instance, requestID string) (PaymentRequest, error)
	// QuarantinedCallback returns one quarantined callback of tenant.
	QuarantinedCallback(ctx context.Context, tenant, id string) (Quarantined, error)
	// OpenQuarantineByRequestID lists the open quarantined callbacks of
	// instance about requestID, in any tenant, oldest first.
	OpenQuarantineByRequestID(ctx context.Context, instance, requestID string) ([]Quarantined, error)
	// ListPaymentRequests lists payment requests by creation time then id.
	ListPaymentRequests(ctx context.Context, tenant string, q PaymentRequestQuery, page core.PageRequest) (core.Page[PaymentRequest], error)

	// AsyncRequest returns one asynchronous request of tenant.
	AsyncRequest(ctx context.Context, tenant, id string) (AsyncRequest, error)
	// AsyncRequestByRef finds the asynchronous request of instance whose
	// RequestRef is requestRef or whose ProviderRef is providerRef (empty
	// ones match nothing), in any tenant (instance names are global); the
	// latest created when several match, ENOTFOUND when none does.
	AsyncRequestByRef(ctx context.Context, instance, requestRef, providerRef string) (AsyncRequest, error)
	// ListAsyncRequests lists asynchronous requests by creation time then
	// id.
	ListAsyncRequests(ctx context.Context, tenant string, q AsyncRequestQuery, page core.PageRequest) (core.Page[AsyncRequest], error)
}

// PaymentRequestQuery filters a payment request list.
type PaymentRequestQuery struct {
	ContractID string
	Status     RequestStatus
}

// ContractQuery filters a contract list at the store; zero fields do not
// filter.
type ContractQuery struct {
	// Statuses are stored statuses (late and defaulted are derived; the
	// Service turns them into PaidThroughBefore on active contracts).
	Statuses []lease.Status
	// PaidThroughBefore keeps contracts whose paid-through instant is
	// before it.
	PaidThroughBefore time.Time
	// UpdatedSince keeps contracts changed at or after it, ordered by
	// update time.
	UpdatedSince time.Time
}

// PaymentQuery filters a payment list.
type PaymentQuery struct {
	ContractID string
	Status     PaymentStatus
}

// EventQuery filters an event list.
type EventQuery struct {
	ContractID string
	Type       string
	Since      time.Time
}

// Tx is one write transaction. Lock methods take a row lock held until the
// transaction ends (SELECT … FOR UPDATE on PostgreSQL; SQLite's single
// writer holds the whole database).
type Tx interface {
	Reader
	InsertCustomer(ctx context.Context, c Customer) error
	InsertDevice(ctx context.Context, d Device) error
	InsertPlan(ctx context.Context, p Plan) error
	InsertContract(ctx context.Context, c Contract) error
	// InsertPayment fails with ErrConcurrentWrite when (Instance,
	// ProviderTxID) is taken: at once, or, where writes are deferred,
	// with the transaction's next statement or its commit.
	InsertPayment(ctx context.Context, p Payment) error
	UpdatePayment(ctx context.Context, p Payment) error
	LockContract(ctx context.Context, tenant, id string) (Contract, error)
	// LockContractByAccount is LockContract by account number (the
	// normalised form): a payment's contract read and locked at once.
	LockContractByAccount(ctx context.Context, tenant, account string) (Contract, error)
	// UpdateContract stores c's state; c.Version must be the stored version
	// plus one, else ECONFLICT.
	UpdateContract(ctx context.Context, c Contract) error
	LockDevice(ctx context.Context, tenant, id string) (Device, error)
	UpdateDevice(ctx context.Context, d Device) error
	// UpdateDeviceKey replaces a device's sealed key (master key rotation).
	UpdateDeviceKey(ctx context.Context, tenant, id string, sealed []byte) error
	// AppendLedger appends lines to their contracts' ledgers, assigning Seq.
	AppendLedger(ctx context.Context, lines []LedgerLine) error
	InsertToken(ctx context.Context, t Token) error
	// UpdateToken settles a pending token: it stores t's Status, Code,
	// FailureReason and SettledAt if the stored token is still pending,
	// else fails with ECONFLICT (ENOTFOUND if there is no such token).
	UpdateToken(ctx context.Context, t Token) error
	InsertSuspense(ctx context.Context, s SuspenseItem) error
	UpdateSuspense(ctx context.Context, s SuspenseItem) error
	// InsertEvent stores e, assigning Seq for its contract; it returns e
	// with Seq set.
	InsertEvent(ctx context.Context, e Event) (Event, error)
	InsertQuarantine(ctx context.Context, q Quarantined) error
	// ResolveQuarantine marks an open quarantined callback resolved at
	// at; ENOTFOUND when there is no such open callback.
	ResolveQuarantine(ctx context.Context, tenant, id string, at time.Time) error
	// InsertPaymentRequest fails with ECONFLICT when (Instance, RequestID)
	// or (Instance, ReferenceID) is taken.
	InsertPaymentRequest(ctx context.Context, r PaymentRequest) error
	// LockPaymentRequest reads a payment request and locks it until the
	// transaction ends.
	LockPaymentRequest(ctx context.Context, tenant, id string) (PaymentRequest, error)
	// UpdatePaymentRequest stores r's mutable fields (RequestID,
	// ProviderRef, Status, Reason, PaymentID, Initiations, Checks,
	// UpdatedAt, InitiatedAt, FinishedAt).
	UpdatePaymentRequest(ctx context.Context, r PaymentRequest) error
	InsertAsyncRequest(ctx context.Context, r AsyncRequest) error
	// LockAsyncRequest reads an asynchronous request and locks it until
	// the transaction ends.
	LockAsyncRequest(ctx context.Context, tenant, id string) (AsyncRequest, error)
	// UpdateAsyncRequest stores r's mutable fields (RequestRef,
	// ProviderRef, State, Attempts, ResultCode, ResultDescription,
	// UpdatedAt, SentAt, NextAttemptAt, FinishedAt).
	UpdateAsyncRequest(ctx context.Context, r AsyncRequest) error
	// EnqueueJob stores a durable job in this transaction, so it exists
	// if and only if the transaction commits (see core.JobService for the
	// defaults of zero fields). A job whose Key is taken is a no-op, not
	// an error.
	EnqueueJob(ctx context.Context, j core.Job) error
}

// LedgerLine is a lease.Line as stored: which contract, which payment, and
// its position in the contract's ledger.
type LedgerLine struct {
	TenantID   string
	ContractID string
	PaymentID  string // empty for lines not caused by a payment
	Seq        int64  // 1, 2, 3, … per contract, assigned by the store
	Line       lease.Line
}
