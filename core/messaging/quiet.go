package messaging

import (
	"fmt"
	"time"
)

// QuietHours is a daily local window, e.g. 21:00 to 07:00, in which
// reminders and campaign messages are not sent; they wait for its end.
// Start == End means no quiet hours.
type QuietHours struct {
	Start time.Duration // since local midnight
	End   time.Duration
}

// ParseQuietHours reads "21:00-07:00"; "" is none.
func ParseQuietHours(s string) (QuietHours, error) {
	if s == "" {
		return QuietHours{}, nil
	}
	var h1, m1, h2, m2 int
	if n, err := fmt.Sscanf(s, "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil || n != 4 ||
		h1 < 0 || h1 > 23 || h2 < 0 || h2 > 23 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 {
		return QuietHours{}, fmt.Errorf("want HH:MM-HH:MM such as 21:00-07:00, got %q", s)
	}
	return QuietHours{Start: time.Duration(h1)*time.Hour + time.Duration(m1)*time.Minute,
		End: time.Duration(h2)*time.Hour + time.Duration(m2)*time.Minute}, nil
}

// In reports whether t falls in the quiet hours in loc.
func (q QuietHours) In(t time.Time, loc *time.Location) bool {
	if q.Start == q.End {
		return false
	}
	l := t.In(loc)
	mid := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	since := l.Sub(mid)
	if q.Start < q.End {
		return since >= q.Start && since < q.End
	}
	return since >= q.Start || since < q.End // across midnight
}

// Defer returns t, or the end of the quiet hours t falls in.
func (q QuietHours) Defer(t time.Time, loc *time.Location) time.Time {
	if !q.In(t, loc) {
		return t
	}
	l := t.In(loc)
	end := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc).Add(q.End)
	if !end.After(t) {
		end = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc).Add(q.End)
	}
	return end.UTC()
}

// Schedules are reminder schedules: day offsets relative to a contract's
// due date (credit expiry or instalment due date), negative before it,
// 0 on it, positive overdue. They are keyed by catalogue plan id, with ""
// the schedule of every other contract.
type Schedules map[string][]int

// For returns the schedule of a contract made from planID.
func (s Schedules) For(planID string) []int {
	if o, ok := s[planID]; ok && planID != "" {
		return o
	}
	return s[""]
}
