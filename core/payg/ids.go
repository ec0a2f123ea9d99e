package payg

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
)

// Id prefixes say what an id names, in logs and support tickets alike.
const (
	prefixCustomer   = "cus_"
	prefixDevice     = "dev_"
	prefixContract   = "con_"
	prefixPlan       = "pln_"
	prefixPayment    = "pay_"
	prefixSuspense   = "sus_"
	prefixToken      = "tok_"
	prefixEvent      = "evt_"
	prefixQuarantine = "qua_"
)

// newID returns prefix + a UUIDv7 in hex: unique, and ordered by creation
// time, so lists ordered by id are stable and roughly chronological.
func newID(prefix string) string {
	u, err := uuid.NewV7()
	if err != nil {
		u = uuid.New() // NewV7 fails only if the random source does
	}
	return prefix + strings.ReplaceAll(u.String(), "-", "")
}

// PhoneHash is the hex SHA-256 of an E.164 number's digits without the '+',
// the form in which M-Pesa C2B v1 reports payers.
func PhoneHash(e164 string) string {
	sum := sha256.Sum256([]byte(strings.TrimPrefix(e164, "+")))
	return hex.EncodeToString(sum[:])
}
