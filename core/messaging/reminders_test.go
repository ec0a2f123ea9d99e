package messaging_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/messaging"
)

// TestRemindersOverAMonth is acceptance 3 of issue #7: a weekly plan, a
// customer who pays on time, then late, then early; the sweeper runs every
// 20 minutes (twice each time, as two replicas would) for a month on a
// fake clock. The expected reminders go out, each once, none in quiet
// hours, none after the payment that made it moot.
func TestRemindersOverAMonth(t *testing.T) {
	t.Parallel() // its own store, clock and fakes: nothing shared with other tests
	ctx := context.Background()
	clock := coretest.NewClock(start) // Mon 2 Mar 2026 09:00 Nairobi
	quiet, err := messaging.ParseQuietHours("21:00-07:00")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, clock, messaging.Settings{Enabled: true, QuietHours: quiet, Events: []string{},
		Reminders: messaging.Schedules{"": {-3, -1, 0, 1, 3, 7}}}, "en")
	weekly := lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES", Price: 35000, PricePeriod: lease.PeriodWeek,
		TotalPrice: 3500000, GraceDays: 3, DefaultDays: 30}
	c := e.newContract(t, e.customer, "AC1", weekly, "")
	// A contract that is paid off gets no reminder.
	done := e.newContract(t, e.customer, "AC2", lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES", Price: 35000,
		PricePeriod: lease.PeriodWeek, TotalPrice: 35000, GraceDays: 3, DefaultDays: 30}, "")
	e.pay(t, "RKT-PAIDOFF", done.AccountNumber, 35000)

	local := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, e.loc) }
	payments := map[int64]string{
		local(2, 9).Unix():   "RKT-W1", // activation: credit to 9 Mar 09:00
		local(9, 12).Unix():  "RKT-W2", // three hours after the expiry
		local(20, 10).Unix(): "RKT-W3", // four days late (after +1 and +3)
		local(27, 8).Unix():  "RKT-W4", // on the due day, after its reminder
	}
	var paidAt []time.Time
	end := local(33, 12) // 2 April
	for now := start; !now.After(end); now = now.Add(20 * time.Minute) {
		clock.Set(now)
		if tx, ok := payments[now.Unix()]; ok {
			e.pay(t, tx, "AC1", 35000)
			paidAt = append(paidAt, now)
		}
		for range 2 {
			if _, err := e.msgs.SweepReminders(ctx); err != nil {
				t.Fatalf("SweepReminders at %v: %v", now, err)
			}
		}
	}

	if len(paidAt) != len(payments) {
		t.Fatalf("%d payments made, want %d", len(paidAt), len(payments))
	}
	var got []string
	for _, m := range e.messages(t, messaging.Query{ContractID: c.ID}) {
		if m.Template != messaging.TemplateReminder && m.Template != messaging.TemplateOverdue {
			t.Errorf("unexpected message %s: %q", m.Template, m.Body)
			continue
		}
		created := m.CreatedAt.In(e.loc)
		if quiet.In(m.CreatedAt, e.loc) {
			t.Errorf("reminder %s created in quiet hours at %v", m.CauseKey, created)
		}
		// reminder:{contract}:{due}:{offset}
		parts := strings.Split(m.CauseKey, ":")
		got = append(got, parts[2]+" "+parts[3]+" @"+created.Format("02 15:04"))
	}
	want := []string{
		"2026-03-09 -3 @06 07:00", "2026-03-09 -1 @08 07:00", "2026-03-09 0 @09 07:00",
		"2026-03-16 -3 @13 07:00", "2026-03-16 -1 @15 07:00", "2026-03-16 0 @16 07:00",
		"2026-03-16 1 @17 07:00", "2026-03-16 3 @19 07:00", // +7 (23 Mar) is moot: paid on the 20th
		"2026-03-27 -3 @24 07:00", "2026-03-27 -1 @26 07:00", "2026-03-27 0 @27 07:00",
		"2026-04-03 -3 @31 07:00", "2026-04-03 -1 @02 07:00",
	}
	if !slices.Equal(got, want) {
		t.Errorf("reminders =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(e.messages(t, messaging.Query{ContractID: done.ID})); n != 0 {
		t.Errorf("%d reminders for a paid-off contract", n)
	}
	if n := len(e.sendJobs(t)); n != len(want) {
		t.Errorf("%d send jobs for %d reminders", n, len(want))
	}
	// The texts: a reminder and an overdue notice.
	ms := e.messages(t, messaging.Query{ContractID: c.ID})
	if want := "Amina, your payment of 350 KES for AC1 is due on 09/03/2026. Pay on time to keep your device on."; ms[0].Body != want {
		t.Errorf("reminder = %q, want %q", ms[0].Body, want)
	}
	if want := "Amina, your payment for AC1 was due on 16/03/2026, 3 days ago. Please pay 350 KES to reactivate your device."; ms[7].Body != want {
		t.Errorf("overdue = %q, want %q", ms[7].Body, want)
	}
	// None was made after the payment that settled its due date.
	for _, m := range ms {
		due, _ := time.ParseInLocation("2006-01-02", strings.Split(m.CauseKey, ":")[2], e.loc)
		for _, p := range paidAt {
			if p.Before(m.CreatedAt) && !due.After(p) {
				t.Errorf("reminder %s made at %v, after the payment of %v settled its due date", m.CauseKey, m.CreatedAt, p)
			}
		}
	}
	if testing.Verbose() {
		fmt.Println(strings.Join(got, "\n"))
	}
}
