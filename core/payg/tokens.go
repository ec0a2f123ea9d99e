package payg

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/payg-gateway/gateway/core"
)

// TokenEngine turns credit into codes for one token scheme. Engines are
// pure: the Service locks the device, passes its counter in, and stores the
// counter the engine returns with the token, in one transaction.
type TokenEngine interface {
	// Unit says how much credit one unit of token value is: seconds/per
	// seconds (OpenPAYGO: 86400/divider, a day split by the divider;
	// Nexus full: 3600/1, an hour).
	Unit(d Device) (seconds, per int64)
	// MaxUnits is the largest value one add-credit token carries.
	MaxUnits(d Device) int64
	// AddCredit returns the code adding units of credit and the device's
	// new counter.
	AddCredit(d Device, key []byte, units int64) (IssuedCode, error)
	// Unlock returns a code unlocking the device for good.
	Unlock(d Device, key []byte) (IssuedCode, error)
}

// IssuedCode is one code from a TokenEngine.
type IssuedCode struct {
	Code    string
	Type    string // the scheme's name for it, e.g. ADD_TIME
	Value   int64
	Counter int64 // the device's counter after this code
}

// CreditSetter is implemented by engines whose devices can be told their
// remaining credit outright (OpenPAYGO SET_TIME, Nexus SET_CREDIT), for
// plans with token_mode set_time. A set token replaces whatever credit
// the device had; at most MaxUnits fit in one.
type CreditSetter interface {
	// SetCredit returns the code setting the device's remaining credit to
	// units, and the device's new counter.
	SetCredit(d Device, key []byte, units int64) (IssuedCode, error)
}

// DeviceProvisioner is implemented by engines that fill in or check scheme
// parameters when a device is created (OpenPAYGO derives a missing starting
// code from the key and checks the divider).
type DeviceProvisioner interface {
	Provision(d *Device, key []byte, startingCode int64) error
}

// issueTokens turns the contract's new credit (or its paying off) into
// tokens for each of its devices, advancing each device's counter under a
// row lock in tx. It returns the tokens stored. A vendor scheme's tokens
// (AsyncTokenEngine) are stored pending, each with its job enqueued in tx.
func (s *Service) issueTokens(ctx context.Context, tx Tx, c Contract, paymentID string, creditSeconds int64, paidOff bool) ([]Token, error) {
	var out []Token
	var payment *Payment // read once, for vendor requests
	for _, id := range c.DeviceIDs {
		d, err := tx.LockDevice(ctx, c.TenantID, id)
		if err != nil {
			return nil, fmt.Errorf("lock device %s: %w", id, err)
		}
		eng, ok := s.engines[d.Scheme]
		if !ok || d.Unlocked {
			continue // SchemeNone, or nothing more to send
		}
		async, isAsync := eng.(AsyncTokenEngine)
		var key []byte
		if !isAsync { // a vendor's devices have their keys at the vendor
			if key, err = s.box.Open(d.SealedKey, []byte(d.ID)); err != nil {
				return nil, fmt.Errorf("device %s key: %w", d.ID, err)
			}
		}
		// set_time plans need an engine that can set credit; CreateContract
		// refuses others, and should one slip through (a scheme's engine
		// changed by configuration) its credit is added rather than lost.
		setter, sets := eng.(CreditSetter)
		sets = sets && c.Plan.SetsTime()
		var codes []IssuedCode
		var seconds []int64
		switch {
		case paidOff:
			code, err := eng.Unlock(d, key)
			if err != nil {
				return nil, fmt.Errorf("device %s unlock token: %w", d.ID, err)
			}
			codes, seconds = append(codes, code), append(seconds, 0)
			d.Unlocked = true
		case sets && creditSeconds > 0:
			codes, seconds, err = setCredit(setter, eng, &d, key, c.State.PaidThrough().Unix()-s.clock.Now().Unix())
		case sets:
			// A reversal on a set_time contract sends nothing: the device
			// keeps its time until the next payment's set token puts it
			// right (the paid-through instant has moved back).
		case creditSeconds != 0:
			codes, seconds, err = addCredit(eng, &d, key, creditSeconds)
		}
		if err != nil {
			return nil, err
		}
		for i, code := range codes {
			d.Counter = code.Counter
			t := Token{
				ID: newID(prefixToken), TenantID: c.TenantID, DeviceID: d.ID, ContractID: c.ID,
				PaymentID: paymentID, Scheme: d.Scheme, Type: code.Type, Value: code.Value,
				Seconds: seconds[i], Count: code.Counter, Code: code.Code, Status: TokenIssued,
				CreatedAt: s.clock.Now(),
			}
			if isAsync {
				t.Status = TokenPending
			}
			if err := tx.InsertToken(ctx, t); err != nil {
				return nil, fmt.Errorf("store token: %w", err)
			}
			if isAsync {
				if payment == nil && paymentID != "" {
					p, err := tx.Payment(ctx, c.TenantID, paymentID)
					if err != nil {
						return nil, fmt.Errorf("token %s payment: %w", t.ID, err)
					}
					payment = &p
				}
				r := VendorRequest{Token: t, Device: d, AccountNumber: c.AccountNumber}
				if !paidOff {
					r.CreditUntil = c.State.Expiry
				}
				if payment != nil {
					r.Amount = payment.Amount
				}
				if err := s.enqueueVendorJob(ctx, tx, async, r); err != nil {
					return nil, err
				}
			}
			out = append(out, t)
		}
		d.UpdatedAt = s.clock.Now()
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return nil, fmt.Errorf("update device %s: %w", d.ID, err)
		}
	}
	return out, nil
}

// addCredit turns creditSeconds (negative after a reversal) into add-credit
// codes after d's counter. One unit is unitSec/per seconds; d.TokenCarry
// counts in seconds×per, so a unit is unitSec of it. What does not make a
// whole unit stays in the carry for the next payment.
func addCredit(eng TokenEngine, d *Device, key []byte, creditSeconds int64) ([]IssuedCode, []int64, error) {
	unitSec, per := eng.Unit(*d)
	d.TokenCarry += creditSeconds * per
	units := int64(0)
	if d.TokenCarry > 0 {
		units = d.TokenCarry / unitSec
	}
	d.TokenCarry -= units * unitSec
	return addUnits(eng, d, key, units)
}

// addUnits returns add-credit codes for units, each of at most MaxUnits,
// advancing d's counter.
func addUnits(eng TokenEngine, d *Device, key []byte, units int64) ([]IssuedCode, []int64, error) {
	var codes []IssuedCode
	var seconds []int64
	unitSec, per := eng.Unit(*d)
	for units > 0 {
		n := min(units, eng.MaxUnits(*d))
		code, err := eng.AddCredit(*d, key, n)
		if err != nil {
			return nil, nil, fmt.Errorf("device %s add-credit token: %w", d.ID, err)
		}
		d.Counter = code.Counter
		codes, seconds = append(codes, code), append(seconds, n*unitSec/per)
		units -= n
	}
	return codes, seconds, nil
}

// setCredit sets d's remaining credit to remaining seconds (the contract's
// paid-through instant less now, in the whole seconds the lease counts):
// one set code of the whole units that fit, then add-credit codes for the
// units beyond the engine's MaxUnits (a set code cannot be stacked, but an
// add after it adds to what it set). The fraction of a unit the device
// does not get is kept as d.TokenCarry; the contract's paid-through
// instant still holds it, so the next set token gives it back. Nothing is
// sent when not even one unit remains (a payment that only repaid
// reversed credit).
func setCredit(setter CreditSetter, eng TokenEngine, d *Device, key []byte, remaining int64) ([]IssuedCode, []int64, error) {
	unitSec, per := eng.Unit(*d)
	total := max(remaining, 0) * per
	units := total / unitSec
	d.TokenCarry = total - units*unitSec
	if units == 0 {
		return nil, nil, nil
	}
	n := min(units, eng.MaxUnits(*d))
	code, err := setter.SetCredit(*d, key, n)
	if err != nil {
		return nil, nil, fmt.Errorf("device %s set-credit token: %w", d.ID, err)
	}
	d.Counter = code.Counter
	codes, seconds := []IssuedCode{code}, []int64{n * unitSec / per}
	more, secs, err := addUnits(eng, d, key, units-n)
	if err != nil {
		return nil, nil, err
	}
	return append(codes, more...), append(seconds, secs...), nil
}

func (s *Service) engine(scheme TokenScheme) (TokenEngine, error) {
	eng, ok := s.engines[scheme]
	if !ok {
		return nil, core.Errorf(core.EINVALID, "token scheme %q is not available in this gateway (it has %s)", scheme, s.schemeList())
	}
	return eng, nil
}

// TokenSchemes returns the token schemes devices of this gateway may use,
// sorted: none, the built-in engines configured, and one per token vendor.
func (s *Service) TokenSchemes() []TokenScheme {
	out := []TokenScheme{SchemeNone}
	for k := range s.engines {
		if k != SchemeNone {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// HasTokenScheme reports whether devices of this gateway may use scheme.
func (s *Service) HasTokenScheme(scheme TokenScheme) bool {
	_, ok := s.engines[scheme]
	return ok || scheme == SchemeNone
}

func (s *Service) schemeList() string {
	var names []string
	for _, k := range s.TokenSchemes() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}
