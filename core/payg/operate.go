package payg

import (
	"context"
	"fmt"
	"time"

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
		var from lease.Status
		if out, _, from, err = s.post(ctx, tx, c, "", res, now); err != nil {
			return err
		}
		return s.emit(ctx, tx, tenant, c.ID, EventContractStatusChanged, statusChanged(out, from, reason), now)
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
// lock like any other token; a token.issued event is written. A vendor
// scheme's token (AsyncTokenEngine) is stored pending with its job, and
// its event comes when the vendor answers.
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
		async, isAsync := eng.(AsyncTokenEngine)
		var key []byte
		if !isAsync {
			if key, err = s.box.Open(d.SealedKey, []byte(d.ID)); err != nil {
				return fmt.Errorf("device %s key: %w", d.ID, err)
			}
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
		contractID, account := "", ""
		if cs, err := tx.ContractsByDevice(ctx, tenant, d.ID); err == nil && len(cs) > 0 {
			contractID, account = cs[len(cs)-1].ID, cs[len(cs)-1].AccountNumber
		}
		out = Token{ID: newID(prefixToken), TenantID: tenant, DeviceID: d.ID, ContractID: contractID, Scheme: d.Scheme,
			Type: code.Type, Value: code.Value, Seconds: seconds, Count: code.Counter, Code: code.Code, Status: TokenIssued, CreatedAt: now}
		if isAsync {
			out.Status = TokenPending
		}
		if err := tx.InsertToken(ctx, out); err != nil {
			return err
		}
		d.Counter, d.UpdatedAt = code.Counter, now
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		if isAsync {
			return s.enqueueVendorJob(ctx, tx, async, VendorRequest{Token: out, Device: d, AccountNumber: account})
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

// SweepStatuses announces the status changes that time alone makes: an
// active contract whose credit ran out becomes late after its grace days,
// then defaulted. It emits contract.status_changed for each contract whose
// status differs from the one last announced, and returns how many. Run it
// periodically; several replicas may run it at once, since each contract
// is re-checked under its row lock. Each store call is bounded by
// Options.SweepTimeout: a store that does not answer ends the sweep with
// an error, and the next sweep takes up what this one left.
func (s *Service) SweepStatuses(ctx context.Context) (int, error) {
	var tenants []core.Tenant
	if err := s.bounded(ctx, func(ctx context.Context) error {
		var err error
		tenants, err = s.tenants.Tenants(ctx)
		return err
	}); err != nil {
		return 0, fmt.Errorf("payg: sweep statuses: tenants: %w", err)
	}
	n := 0
	for _, t := range tenants {
		loc, err := time.LoadLocation(t.TimeZone)
		if err != nil {
			return n, fmt.Errorf("payg: tenant %s time zone: %w", t.ID, err)
		}
		now := s.clock.Now()
		q := ContractQuery{Statuses: []lease.Status{lease.StatusActive}, PaidThroughBefore: arrearsCutoff(now, loc, 1)}
		req := core.PageRequest{Limit: core.MaxPageLimit}
		for {
			var page core.Page[Contract]
			if err := s.bounded(ctx, func(ctx context.Context) error {
				return s.store.View(ctx, func(r Reader) error {
					var err error
					page, err = r.ListContracts(ctx, t.ID, q, req)
					return err
				})
			}); err != nil {
				return n, fmt.Errorf("payg: sweep statuses: tenant %s: %w", t.ID, err)
			}
			for _, c := range page.Items {
				if lease.StatusAt(c.Plan, c.State, now, loc) == c.AnnouncedStatus {
					continue
				}
				var changed bool
				if err := s.bounded(ctx, func(ctx context.Context) error {
					var err error
					changed, err = s.announce(ctx, t.ID, c.ID, now, loc)
					return err
				}); err != nil {
					return n, fmt.Errorf("payg: sweep statuses: contract %s: %w", c.ID, err)
				}
				if changed {
					n++
				}
			}
			if page.NextCursor == "" {
				break
			}
			req.Cursor = page.NextCursor
		}
	}
	return n, nil
}

// bounded runs fn with a context that ends after the sweep timeout.
func (s *Service) bounded(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.sweepTimeout)
	defer cancel()
	return fn(ctx)
}

// announce re-checks one contract under its lock and, if its status moved,
// records and emits the change.
func (s *Service) announce(ctx context.Context, tenant, id string, now time.Time, loc *time.Location) (bool, error) {
	changed := false
	err := s.inTx(ctx, func(tx Tx) error {
		changed = false
		c, err := tx.LockContract(ctx, tenant, id)
		if err != nil {
			return err
		}
		st := lease.StatusAt(c.Plan, c.State, now, loc)
		if st == c.AnnouncedStatus {
			return nil // another replica, or a payment, got there first
		}
		from := c.AnnouncedStatus
		c.AnnouncedStatus, c.Version, c.UpdatedAt = st, c.Version+1, now
		if err := tx.UpdateContract(ctx, c); err != nil {
			return err
		}
		changed = true
		return s.emit(ctx, tx, tenant, c.ID, EventContractStatusChanged, statusChanged(c, from, "days in arrears"), now)
	})
	if err != nil {
		return false, fmt.Errorf("payg: announce status of contract %s: %w", id, err)
	}
	return changed, nil
}
