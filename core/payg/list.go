package payg

import (
	"context"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

// ContractFilter selects contracts for a list.
type ContractFilter struct {
	// Status is any contract status, late and defaulted included (those
	// are derived from the credit expiry at the time of the query).
	Status lease.Status
	// DaysInArrearsAtLeast keeps contracts at least this many days in
	// arrears today, in the tenant's time zone; 0 does not filter.
	DaysInArrearsAtLeast int
	// UpdatedSince keeps contracts changed at or after it, in the order
	// they changed.
	UpdatedSince time.Time
}

// ListContracts returns one page of the tenant's contracts that pass f.
func (s *Service) ListContracts(ctx context.Context, tenant string, f ContractFilter, req core.PageRequest) (core.Page[Contract], error) {
	limit, _, err := req.Resolve()
	if err != nil {
		return core.Page[Contract]{}, err
	}
	loc, _, err := s.location(ctx, tenant)
	if err != nil {
		return core.Page[Contract]{}, err
	}
	now := s.clock.Now()
	q := ContractQuery{UpdatedSince: f.UpdatedSince}
	keep := func(Contract) bool { return true }
	switch f.Status {
	case "":
	case lease.StatusLate, lease.StatusDefaulted, lease.StatusActive:
		q.Statuses = []lease.Status{lease.StatusActive}
		if f.Status != lease.StatusActive {
			q.PaidThroughBefore = arrearsCutoff(now, loc, 1)
		}
		want := f.Status
		keep = func(c Contract) bool { return lease.StatusAt(c.Plan, c.State, now, loc) == want }
	case lease.StatusPendingDeposit, lease.StatusPaidOff, lease.StatusCancelled, lease.StatusRepossessed, lease.StatusWrittenOff:
		q.Statuses = []lease.Status{f.Status}
	default:
		return core.Page[Contract]{}, core.Errorf(core.EINVALID, "status %q is not a contract status", f.Status)
	}
	if f.DaysInArrearsAtLeast < 0 {
		return core.Page[Contract]{}, core.Errorf(core.EINVALID, "days_in_arrears_gte must not be negative")
	}
	if n := f.DaysInArrearsAtLeast; n > 0 {
		if cut := arrearsCutoff(now, loc, n); q.PaidThroughBefore.IsZero() || cut.Before(q.PaidThroughBefore) {
			q.PaidThroughBefore = cut
		}
		if len(q.Statuses) == 0 {
			q.Statuses = []lease.Status{lease.StatusActive, lease.StatusRepossessed, lease.StatusWrittenOff}
		}
	}
	cursorOf := func(c Contract) string {
		if !f.UpdatedSince.IsZero() {
			return core.Cursor{CreatedAt: c.UpdatedAt, ID: c.ID}.Encode()
		}
		return core.Cursor{CreatedAt: c.CreatedAt, ID: c.ID}.Encode()
	}

	var out core.Page[Contract]
	err = s.store.View(ctx, func(r Reader) error {
		cursor := req.Cursor
		for {
			p, err := r.ListContracts(ctx, tenant, q, core.PageRequest{Limit: limit, Cursor: cursor})
			if err != nil {
				return err
			}
			for i, c := range p.Items {
				if !keep(c) {
					continue
				}
				out.Items = append(out.Items, c)
				if len(out.Items) == limit {
					if i < len(p.Items)-1 || p.NextCursor != "" {
						out.NextCursor = cursorOf(c)
					}
					return nil
				}
			}
			if p.NextCursor == "" {
				return nil
			}
			cursor = p.NextCursor
		}
	})
	return out, err
}

// arrearsCutoff is the instant before which a paid-through time is at
// least n local calendar days in arrears at now: local midnight of the day
// n−1 days before today.
func arrearsCutoff(now time.Time, loc *time.Location, n int) time.Time {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d-n+1, 0, 0, 0, 0, loc).UTC()
}
