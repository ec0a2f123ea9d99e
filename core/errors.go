package core

import (
	"errors"
	"fmt"
)

// Error codes. Each names a class of failure that the HTTP layer maps to a
// status once; stores and services never speak HTTP.
const (
	ECONFLICT    = "conflict"    // the action conflicts with existing state (duplicate key, wrong status)
	EINTERNAL    = "internal"    // a bug or an unexpected failure
	EINVALID     = "invalid"     // the input is malformed or breaks a rule
	ENOTFOUND    = "not_found"   // the entity does not exist (or belongs to another tenant)
	EUNAVAILABLE = "unavailable" // a dependency (the store) cannot be reached; retrying may help
)

// Error is a domain error: a machine-readable code and a message safe to show
// to an API caller. Wrap it with fmt.Errorf("...: %w", err) to add context;
// ErrorCode and ErrorMessage find it through the chain.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns a domain error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message for other errors so internals never leak to a caller.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
