package lease

import (
	"fmt"
	"time"
)

// Instalment is one entry of an instalment schedule.
type Instalment struct {
	Number int       `json:"number"` // 1-based
	Due    time.Time `json:"due"`
	Amount int64     `json:"amount"`
}

// Schedule returns the instalments of an instalment plan for a contract
// activated at activatedAt. The down payment covers the first period;
// instalment k falls due k weeks or k calendar months after activation, at
// the same local wall-clock time in loc (a monthly due date on the 31st
// moves to the last day of shorter months).
func Schedule(p Plan, activatedAt time.Time, loc *time.Location) ([]Instalment, error) {
	if !p.IsInstalments() {
		return nil, fmt.Errorf("lease: schedule: %s plan has no instalments: %w", p.Kind, ErrInvalidArgument)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if loc == nil {
		return nil, fmt.Errorf("lease: schedule: nil time zone: %w", ErrInvalidArgument)
	}
	n := p.NumInstalments()
	out := make([]Instalment, n)
	for k := 1; k <= n; k++ {
		out[k-1] = Instalment{Number: k, Due: p.dueDate(normTime(activatedAt), k, loc), Amount: p.Instalment(k)}
	}
	return out, nil
}

// dueDate returns when instalment k falls due (k = N+1 is the end of the
// last instalment's period).
func (p Plan) dueDate(activated time.Time, k int, loc *time.Location) time.Time {
	a := activated.In(loc)
	if p.Frequency == PeriodMonth {
		return addMonths(a, k).UTC()
	}
	return a.AddDate(0, 0, DaysPerWeek*k).UTC()
}

// accessStart returns when access period k (0-based) starts and its charge
// falls due: k×AccessPeriodDays local days after activation.
func (p Plan) accessStart(activated time.Time, k int64, loc *time.Location) time.Time {
	return activated.In(loc).AddDate(0, 0, int(k)*p.AccessPeriodDays).UTC()
}

// addMonths adds n calendar months to t, keeping the wall-clock time and
// clamping the day to the last day of the target month.
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, t.Location())
	if last := daysIn(first.Year(), first.Month()); d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, hh, mm, ss, t.Nanosecond(), t.Location())
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// civilDay numbers t's calendar date in loc (days since 1970-01-01), so
// date differences count midnights in the tenant's zone.
func civilDay(t time.Time, loc *time.Location) int64 {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / SecondsPerDay
}

// overdue reports whether something due at due is overdue at t: due on an
// earlier local date. On its due date it is due but not yet in arrears.
func overdue(due, t time.Time, loc *time.Location) bool {
	return civilDay(due, loc) < civilDay(t, loc)
}

// paidInstalments returns how many instalments paid fully covers.
func (p Plan) paidInstalments(paid int64) int {
	n := p.NumInstalments()
	if paid >= p.Financed() {
		return n
	}
	if paid <= 0 {
		return 0
	}
	k := paid / p.regularInstalment()
	if k > int64(n-1) {
		k = int64(n - 1)
	}
	return int(k)
}

// accessCharges returns how many access charges have fallen due at t (one
// on the activation date and one at the start of each later period) and how
// many of those are overdue (due on an earlier local date).
func (p Plan) accessCharges(activated, t time.Time, loc *time.Location) (due, overdueN int64) {
	if p.AccessRate == 0 || activated.IsZero() {
		return 0, 0
	}
	d := civilDay(t, loc) - civilDay(activated, loc)
	if d < 0 {
		return 0, 0
	}
	n := int64(p.AccessPeriodDays)
	return d/n + 1, (d + n - 1) / n
}
