package payg

import (
	"context"

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

// Reader is the read side, scoped by tenant: a row of another tenant is
// ENOTFOUND.
type Reader interface {
	Customer(ctx context.Context, tenant, id string) (Customer, error)
	CustomerByExternalID(ctx context.Context, tenant, externalID string) (Customer, error)
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
	SuspenseItem(ctx context.Context, tenant, id string) (SuspenseItem, error)
	SuspenseItems(ctx context.Context, tenant string, status SuspenseStatus) ([]SuspenseItem, error)
	Events(ctx context.Context, tenant, contractID string) ([]Event, error)
}

// Tx is one write transaction. Lock methods take a row lock held until the
// transaction ends (SELECT … FOR UPDATE on PostgreSQL; SQLite's single
// writer holds the whole database).
type Tx interface {
	Reader
	InsertCustomer(ctx context.Context, c Customer) error
	InsertDevice(ctx context.Context, d Device) error
	InsertContract(ctx context.Context, c Contract) error
	// InsertPayment fails with ECONFLICT when (Instance, ProviderTxID) is
	// taken.
	InsertPayment(ctx context.Context, p Payment) error
	UpdatePayment(ctx context.Context, p Payment) error
	LockContract(ctx context.Context, tenant, id string) (Contract, error)
	// UpdateContract stores c's state; c.Version must be the stored version
	// plus one, else ECONFLICT.
	UpdateContract(ctx context.Context, c Contract) error
	LockDevice(ctx context.Context, tenant, id string) (Device, error)
	UpdateDevice(ctx context.Context, d Device) error
	// AppendLedger appends lines to their contracts' ledgers, assigning Seq.
	AppendLedger(ctx context.Context, lines []LedgerLine) error
	InsertToken(ctx context.Context, t Token) error
	InsertSuspense(ctx context.Context, s SuspenseItem) error
	UpdateSuspense(ctx context.Context, s SuspenseItem) error
	// InsertEvent stores e, assigning Seq for its contract; it returns e
	// with Seq set.
	InsertEvent(ctx context.Context, e Event) (Event, error)
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
