package messaging

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
)

// Reminders
//
// A contract's due date is its paid-through instant (the credit expiry, or
// the due date of the first instalment not fully paid), as a local date in
// the tenant's time zone. A schedule offset d fires on the local day due+d:
// at or after its start and within that day, outside quiet hours, the
// sweeper stores a reminder (d ≤ 0) or overdue notice (d > 0) with cause
// key "reminder:{contract}:{due date}:{d}". Once the customer pays, the
// due date moves, so no reminder of the old one is made any more; a
// contract that is paid off or closed gets none. A sweep that is late by
// less than a day still sends; one later than that skips the stale ones.

// dueDate is a contract's due date as a local date, zero when it has none.
func dueDate(c payg.Contract, loc *time.Location) time.Time {
	pt := c.State.PaidThrough()
	if pt.IsZero() {
		return time.Time{}
	}
	y, m, d := pt.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// reminderCause is the cause key of a contract's reminder.
func reminderCause(contractID string, due time.Time, offset int) string {
	return "reminder:" + contractID + ":" + due.Format("2006-01-02") + ":" + strconv.Itoa(offset)
}

// SweepReminders stores the reminders that are due now for every tenant
// with messaging on and a schedule, and returns how many. Run it
// periodically; several replicas may run it at once, since a reminder's
// cause key is unique.
func (s *Service) SweepReminders(ctx context.Context) (int, error) {
	tenants, err := s.o.Tenants.Tenants(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range tenants {
		set := s.o.Settings(t.ID)
		if !set.Enabled || len(set.Reminders) == 0 {
			continue
		}
		loc, err := time.LoadLocation(t.TimeZone)
		if err != nil {
			return n, fmt.Errorf("messaging: tenant %s time zone: %w", t.ID, err)
		}
		now := s.o.Clock.Now()
		if set.QuietHours.In(now, loc) {
			continue // the next sweep after the quiet hours sends them
		}
		k, err := s.sweepTenant(ctx, t, set, loc, now)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *Service) sweepTenant(ctx context.Context, t core.Tenant, set Settings, loc *time.Location, now time.Time) (int, error) {
	n := 0
	req := core.PageRequest{Limit: core.MaxPageLimit}
	// Late and defaulted contracts are stored as active. Only those due
	// within the earliest offset (or overdue) can have a reminder now.
	lead := 0
	for _, offsets := range set.Reminders {
		for _, d := range offsets {
			lead = max(lead, -d)
		}
	}
	q := payg.ContractQuery{Statuses: []lease.Status{lease.StatusActive}, PaidThroughBefore: now.AddDate(0, 0, lead+2)}
	for {
		var page core.Page[payg.Contract]
		if err := s.o.Store.View(ctx, func(r payg.Reader) error {
			var err error
			page, err = r.ListContracts(ctx, t.ID, q, req)
			return err
		}); err != nil {
			return n, err
		}
		for _, c := range page.Items {
			for _, d := range set.Reminders.For(c.PlanID) {
				if !firesNow(c, d, loc, now) {
					continue
				}
				ok, err := s.remind(ctx, t, loc, c.ID, d, now)
				if err != nil {
					return n, err
				}
				if ok {
					n++
				}
			}
		}
		if page.NextCursor == "" {
			return n, nil
		}
		req.Cursor = page.NextCursor
	}
}

// firesNow reports whether offset d of c's schedule fires at now: now is
// on the local day due+d.
func firesNow(c payg.Contract, d int, loc *time.Location, now time.Time) bool {
	due := dueDate(c, loc)
	if due.IsZero() || c.State.Status != lease.StatusActive {
		return false
	}
	day := due.AddDate(0, 0, d)
	return !now.Before(day) && now.Before(day.AddDate(0, 0, 1))
}

// remind stores offset d's reminder for contract id, re-reading the
// contract in the transaction: a payment committed since the list moved
// its due date, and the reminder is no longer due.
func (s *Service) remind(ctx context.Context, t core.Tenant, loc *time.Location, id string, d int, now time.Time) (bool, error) {
	var created bool
	err := s.o.Store.InTx(ctx, func(tx payg.Tx) error {
		created = false
		c, err := tx.Contract(ctx, t.ID, id)
		if err != nil {
			return err
		}
		if !firesNow(c, d, loc, now) {
			return nil
		}
		cu, err := tx.Customer(ctx, t.ID, c.CustomerID)
		if err != nil {
			return err
		}
		due := dueDate(c, loc)
		amount := core.Money{Amount: periodAmount(c.Plan), Currency: c.State.Currency}
		v := map[string]string{"name": firstName(cu.Name), "account": c.AccountNumber, "due_date": due.Format("02/01/2006")}
		tmpl := TemplateReminder
		if d > 0 {
			tmpl = TemplateOverdue
			v["days_late"] = strconv.Itoa(d)
			if a := lease.ArrearsAt(c.Plan, c.State, now, loc); a > 0 {
				amount.Amount = a
			}
		} else {
			v["days"] = strconv.Itoa(-d)
		}
		v["amount"] = FormatMoney(amount, cu.Language)
		created, err = s.queue(ctx, tx, draft{tenant: t, customerID: cu.ID, contractID: c.ID, template: tmpl,
			language: cu.Language, phone: cu.Phone, values: v, cause: reminderCause(c.ID, due, d)})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("messaging: reminder %d for contract %s: %w", d, id, err)
	}
	return created, nil
}

// periodAmount is what a contract's plan asks for each period: the
// payg_credit price, the regular instalment, the access rate.
func periodAmount(p lease.Plan) int64 {
	switch p.Kind {
	case lease.KindPAYGCredit:
		return p.Price
	case lease.KindInstalmentsByCost:
		return p.InstalmentAmount
	case lease.KindInstalmentsByCount:
		if n := int64(p.InstalmentCount); n > 0 {
			return (p.TotalPrice - p.Deposit + n - 1) / n
		}
	case lease.KindEnergy:
		return p.AccessRate
	}
	return 0
}
