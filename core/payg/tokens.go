package payg

import (
	"context"
	"fmt"

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
		var codes []IssuedCode
		var seconds []int64
		if paidOff {
			code, err := eng.Unlock(d, key)
			if err != nil {
				return nil, fmt.Errorf("device %s unlock token: %w", d.ID, err)
			}
			codes, seconds = append(codes, code), append(seconds, 0)
			d.Unlocked = true
		} else if creditSeconds != 0 {
			// One unit is unitSec/per seconds. TokenCarry counts in
			// seconds×per, so a unit is unitSec of it.
			unitSec, per := eng.Unit(d)
			d.TokenCarry += creditSeconds * per
			units := int64(0)
			if d.TokenCarry > 0 {
				units = d.TokenCarry / unitSec
			}
			d.TokenCarry -= units * unitSec
			for units > 0 {
				n := min(units, eng.MaxUnits(d))
				code, err := eng.AddCredit(d, key, n)
				if err != nil {
					return nil, fmt.Errorf("device %s add-credit token: %w", d.ID, err)
				}
				d.Counter = code.Counter
				codes, seconds = append(codes, code), append(seconds, n*unitSec/per)
				units -= n
			}
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

func (s *Service) engine(scheme TokenScheme) (TokenEngine, error) {
	eng, ok := s.engines[scheme]
	if !ok {
		return nil, core.Errorf(core.EINVALID, "token scheme %q is not available in this gateway", scheme)
	}
	return eng, nil
}
