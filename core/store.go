package core

import "context"

// Store is the gateway's persistent state. core/sqlite and core/postgres
// implement it; core/storetest holds the conformance suite both must pass.
//
// Exported methods run in their own transaction; a method that changes state
// and emits events (later: ledger lines, outbox jobs) does so atomically.
// Driver errors never escape: they are translated into *Error codes
// (ENOTFOUND, ECONFLICT, EUNAVAILABLE, EINTERNAL).
type Store interface {
	TenantService
	APIService // API keys and idempotency records (apikey.go, idempotency.go)

	// Migrate applies every pending schema migration. It is idempotent and
	// safe to run from several processes at once.
	Migrate(ctx context.Context) error
	// Ready returns nil when the store answers and its schema is current.
	Ready(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}
