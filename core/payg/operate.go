package payg

import (
	"context"
	"fmt"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

// SetStatus is an operator's change of a contract's status: cancelled,
// repossessed or written_off, where the status machine allows it. It writes
// a status ledger line and a contract.status_changed event.
func (s *Service) SetStatus(ctx context.Context, tenant, contractID string, to lease.Status, reason string) (Contract, error) {
	loc, _, err := s.location(ctx, tenant)
	if err != nil {
		return Contract{}, err
	}
	var out Contract
	err = s.inTx(ctx, func(tx Tx) error {
		c, err := tx.LockContract(ctx, tenant, contractID)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		res, err := lease.Transition(c.Plan, c.State, to, now, loc)
		if err != nil {
			return err
		}
		if out, _, err = s.post(ctx, tx, c, "", res, now); err != nil {
			return err
		}
		return s.emit(ctx, tx, tenant, c.ID, EventContractStatusChanged, map[string]any{
			"contract_id": c.ID, "from": res.From, "to": res.To, "reason": reason,
		}, now)
	})
	if err != nil {
		return Contract{}, fmt.Errorf("payg: set contract %s status: %w", contractID, err)
	}
	return out, nil
}

// TokenKind is what a manually issued token does.
type TokenKind string

// Manual token kinds.
const (
	TokenAddDays     TokenKind = "add_days"     // goodwill credit, outside the ledger
	TokenUnlock      TokenKind = "unlock"       // permanent unlock
	TokenCounterSync TokenKind = "counter_sync" // OpenPAYGO: bring a migrated device's counter in line
)

// CounterSyncer is implemented by engines that can resynchronise a
// device's counter (OpenPAYGO COUNTER_SYNC).
type CounterSyncer interface {
	CounterSync(d Device, key []byte) (IssuedCode, error)
}

// IssueToken issues a token outside a payment: goodwill days, a permanent
// unlock, or a counter sync. The device's counter advances under its row
// lock like any other token; a token.issued event is written.
func (s *Service) IssueToken(ctx context.Context, tenant, deviceID string, kind TokenKind, days int, reason string) (Token, error) {
	var out Token
	err := s.inTx(ctx, func(tx Tx) error {
		d, err := tx.LockDevice(ctx, tenant, deviceID)
		if err != nil {
			return err
		}
		eng, err := s.engine(d.Scheme)
		if err != nil {
			return err
		}
		key, err := s.box.Open(d.SealedKey, []byte(d.ID))
		if err != nil {
			return fmt.Errorf("device %s key: %w", d.ID, err)
		}
		var code IssuedCode
		var seconds int64
		switch kind {
		case TokenAddDays:
			unitSec, per := eng.Unit(d)
			units := int64(days) * 86400 * per / unitSec
			if days <= 0 || units < 1 || units > eng.MaxUnits(d) {
				return core.Errorf(core.EINVALID, "days: want 1 to %d for this device", eng.MaxUnits(d)*unitSec/per/86400)
			}
			code, err = eng.AddCredit(d, key, units)
			seconds = int64(days) * 86400
		case TokenUnlock:
			code, err = eng.Unlock(d, key)
			d.Unlocked = true
		case TokenCounterSync:
			cs, ok := eng.(CounterSyncer)
			if !ok {
				return core.Errorf(core.EINVALID, "token scheme %s has no counter sync", d.Scheme)
			}
			code, err = cs.CounterSync(d, key)
		default:
			return core.Errorf(core.EINVALID, "token kind %q: want add_days, unlock or counter_sync", kind)
		}
		if err != nil {
			return core.Errorf(core.EINVALID, "%v", err)
		}
		now := s.clock.Now()
		contractID := ""
		if cs, err := tx.ContractsByDevice(ctx, tenant, d.ID); err == nil && len(cs) > 0 {
			contractID = cs[len(cs)-1].ID
		}
		out = Token{ID: newID(prefixToken), TenantID: tenant, DeviceID: d.ID, ContractID: contractID, Scheme: d.Scheme,
			Type: code.Type, Value: code.Value, Seconds: seconds, Count: code.Counter, Code: code.Code, Status: TokenIssued, CreatedAt: now}
		if err := tx.InsertToken(ctx, out); err != nil {
			return err
		}
		d.Counter, d.UpdatedAt = code.Counter, now
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		data := tokenData(out)
		data["reason"] = reason
		return s.emit(ctx, tx, tenant, contractID, EventTokenIssued, data, now)
	})
	if err != nil {
		return Token{}, fmt.Errorf("payg: issue %s token for device %s: %w", kind, deviceID, err)
	}
	return out, nil
}
