package lease

import "github.com/payg-gateway/gateway/core"

// Errors returned by this package. Each is a *core.Error, so core.ErrorCode
// maps it to an API status once; the payment pipeline tells them apart with
// errors.Is (for example to pick a suspense reason). Every returned error
// wraps one of them with context ("lease: apply: ...: %w"). Do not modify
// them.
var (
	// ErrInvalidPlan: a plan field breaks a rule; the message names the field.
	ErrInvalidPlan = &core.Error{Code: core.EINVALID, Message: "invalid plan"}
	// ErrInvalidArgument: a caller passed an unusable argument (nil time
	// zone, non-positive amount, unknown charge kind).
	ErrInvalidArgument = &core.Error{Code: core.EINVALID, Message: "invalid argument"}
	// ErrCurrencyMismatch: the payment is not in the contract's currency.
	// Nothing is ever converted. It is the same value as core.ErrCurrencyMismatch.
	ErrCurrencyMismatch = core.ErrCurrencyMismatch
	// ErrOverflow: an amount or a credit period is too large to represent.
	ErrOverflow = core.ErrOverflow
	// ErrBelowMinimum: the payment is smaller than the plan's minimum
	// payment. The money goes to the suspense queue.
	ErrBelowMinimum = &core.Error{Code: core.EINVALID, Message: "payment is below the plan's minimum payment"}
	// ErrContractClosed: the contract is paid off, cancelled, repossessed or
	// written off and takes no more payments or charges. The money goes to
	// the suspense queue.
	ErrContractClosed = &core.Error{Code: core.ECONFLICT, Message: "contract is closed"}
	// ErrIllegalTransition: the status machine does not allow the change.
	ErrIllegalTransition = &core.Error{Code: core.ECONFLICT, Message: "illegal status transition"}
	// ErrInvalidReversal: the lines given are not an unreversed payment of
	// this contract (empty, already reversed, or more than was paid).
	ErrInvalidReversal = &core.Error{Code: core.ECONFLICT, Message: "invalid reversal"}
	// ErrLedgerMismatch: stored balances disagree with the ledger, or the
	// ledger lines disagree with each other.
	ErrLedgerMismatch = &core.Error{Code: core.EINTERNAL, Message: "ledger does not match balances"}
)
