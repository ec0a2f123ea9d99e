package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
)

func asMessageStore(t *testing.T, s core.Store) messaging.Store {
	t.Helper()
	ms, ok := s.(messaging.Store)
	if !ok {
		t.Fatalf("%T does not implement messaging.Store", s)
	}
	return ms
}

func testMessages(t *testing.T, h Harness) {
	t.Run("InsertAndList", func(t *testing.T) { testMessageInsertList(t, h) })
	t.Run("DeliveryReports", func(t *testing.T) { testMessageDeliveryReports(t, h) })
	t.Run("Campaigns", func(t *testing.T) { testCampaignRows(t, h) })
	t.Run("Sending", func(t *testing.T) { testMessageSending(t, h) })
}

func (w *world) message(cause string, state messaging.State) messaging.Message {
	now := w.clock.Now()
	enc, segs := messaging.Encode("Asante, KES 500 imepokelewa.")
	return messaging.Message{
		ID: "msg_" + cause, TenantID: w.tenant, CustomerID: w.customer.ID, ContractID: w.contract.ID, CauseKey: cause,
		Template: "payment_received", Language: "sw", To: w.customer.Phone, Body: "Asante, KES 500 imepokelewa.",
		Encoding: enc, Segments: segs, State: state, CreatedAt: now, UpdatedAt: now,
	}
}

// inMsgTx runs fn in a store transaction as a messaging.Tx.
func inMsgTx(t *testing.T, s messaging.Store, fn func(tx messaging.Tx) error) error {
	t.Helper()
	return s.InTx(context.Background(), func(ptx payg.Tx) error {
		tx, ok := ptx.(messaging.Tx)
		if !ok {
			t.Fatalf("%T does not implement messaging.Tx", ptx)
		}
		return fn(tx)
	})
}

func testMessageInsertList(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	ms := asMessageStore(t, w.store)

	var ids []string
	created0 := w.clock.Now()
	for i := range 5 {
		m := w.message(fmt.Sprintf("evt_%d:payment_received", i), messaging.StateQueued)
		if i == 4 {
			m.ContractID, m.CustomerID = "", "" // a payer who is not a customer
			m.State = messaging.StateSent
		}
		var inserted bool
		if err := inMsgTx(t, ms, func(tx messaging.Tx) error {
			var err error
			inserted, err = tx.InsertMessage(ctx, m)
			return err
		}); err != nil {
			t.Fatalf("InsertMessage %d: %v", i, err)
		}
		if !inserted {
			t.Fatalf("InsertMessage %d: not inserted", i)
		}
		ids = append(ids, m.ID)
		w.clock.Advance(time.Second)
	}
	// The same cause again, even with a new id, is a no-op.
	dup := w.message("evt_0:payment_received", messaging.StateQueued)
	dup.ID, dup.Body = "msg_other", "another body"
	if err := inMsgTx(t, ms, func(tx messaging.Tx) error {
		inserted, err := tx.InsertMessage(ctx, dup)
		if inserted {
			t.Error("a second message for the same cause was inserted")
		}
		return err
	}); err != nil {
		t.Fatalf("InsertMessage duplicate: %v", err)
	}
	if _, err := ms.Message(ctx, w.tenant, "msg_other"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("Message(duplicate id) = %v, want ENOTFOUND", err)
	}

	got, err := ms.Message(ctx, w.tenant, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	want := w.message("evt_0:payment_received", messaging.StateQueued) // body and phone do not depend on the time
	if got.Body != want.Body || got.To != want.To || got.Encoding != messaging.GSM7 || got.Segments != 1 ||
		got.State != messaging.StateQueued || got.CauseKey != want.CauseKey || !got.CreatedAt.Equal(created0) {
		t.Errorf("Message = %+v", got)
	}
	if !got.SentAt.IsZero() || !got.FinalAt.IsZero() {
		t.Errorf("a queued message has times sent %v final %v", got.SentAt, got.FinalAt)
	}
	if _, err := ms.Message(ctx, "other-tenant", ids[0]); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("Message of another tenant = %v, want ENOTFOUND", err)
	}

	// Pages of two, in creation order.
	var seen []string
	req := core.PageRequest{Limit: 2}
	for {
		p, err := ms.ListMessages(ctx, w.tenant, messaging.Query{}, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Items {
			seen = append(seen, m.ID)
		}
		if p.NextCursor == "" {
			break
		}
		req.Cursor = p.NextCursor
	}
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Errorf("pages = %v, want %v", seen, ids)
	}
	count := func(q messaging.Query) int {
		p, err := ms.ListMessages(ctx, w.tenant, q, core.PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Items)
	}
	for _, c := range []struct {
		q    messaging.Query
		want int
	}{
		{messaging.Query{CustomerID: w.customer.ID}, 4},
		{messaging.Query{ContractID: w.contract.ID}, 4},
		{messaging.Query{State: messaging.StateSent}, 1},
		{messaging.Query{State: messaging.StateQueued, ContractID: w.contract.ID}, 4},
		{messaging.Query{CustomerID: "cus_nobody"}, 0},
	} {
		if n := count(c.q); n != c.want {
			t.Errorf("ListMessages(%+v) = %d messages, want %d", c.q, n, c.want)
		}
	}
}

func testMessageDeliveryReports(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	ms := asMessageStore(t, w.store)
	d := messaging.Deliveries{Store: ms, Clock: w.clock}

	a := w.message("a", messaging.StateSent)
	a.Instance, a.ProviderID, a.SentAt = "at-ke", "ATXid_1", w.clock.Now()
	b := w.message("b", messaging.StateSent)
	b.Instance, b.ProviderID, b.SentAt = "at-ke", "ATXid_2", w.clock.Now()
	// The same provider id at another instance is another message.
	c := w.message("c", messaging.StateSent)
	c.Instance, c.ProviderID, c.SentAt = "twilio-ke", "ATXid_1", w.clock.Now()
	if err := inMsgTx(t, ms, func(tx messaging.Tx) error {
		for _, m := range []messaging.Message{a, b, c} {
			if _, err := tx.InsertMessage(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	deliveredAt := w.clock.Now().Add(-30 * time.Second)
	res, err := d.ApplyDeliveries(ctx, "at-ke", []adapters.DeliveryReport{
		{ProviderID: "ATXid_1", State: adapters.SMSDelivered, ProviderStatus: "Success", At: deliveredAt},
		{ProviderID: "ATXid_2", State: adapters.SMSFailed, ProviderStatus: "Failed", Reason: "UserInBlacklist", Code: "406"},
		{ProviderID: "ATXid_unknown", State: adapters.SMSDelivered},
	})
	if err != nil {
		t.Fatalf("ApplyDeliveries: %v", err)
	}
	if res != (messaging.DeliveryResult{Applied: 2, Unknown: 1}) {
		t.Errorf("ApplyDeliveries = %+v, want 2 applied, 1 unknown", res)
	}
	get := func(id string) messaging.Message {
		m, err := ms.Message(ctx, w.tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := get(a.ID); m.State != messaging.StateDelivered || m.ProviderStatus != "Success" || !m.FinalAt.Equal(deliveredAt) {
		t.Errorf("a after its report = %s %q final %v, want delivered Success %v", m.State, m.ProviderStatus, m.FinalAt, deliveredAt)
	}
	if m := get(b.ID); m.State != messaging.StateFailed || m.Reason != "406 UserInBlacklist" || !m.FinalAt.Equal(w.clock.Now()) {
		t.Errorf("b after its report = %s %q final %v", m.State, m.Reason, m.FinalAt)
	}
	if m := get(c.ID); m.State != messaging.StateSent {
		t.Errorf("c (same id, other instance) = %s, want sent", m.State)
	}

	// Late and repeated reports never move a final state back.
	res, err = d.ApplyDeliveries(ctx, "at-ke", []adapters.DeliveryReport{
		{ProviderID: "ATXid_1", State: adapters.SMSSent, ProviderStatus: "Sent"},
		{ProviderID: "ATXid_1", State: adapters.SMSFailed, ProviderStatus: "Failed"},
		{ProviderID: "ATXid_2", State: adapters.SMSDelivered, ProviderStatus: "Success"},
		{ProviderID: "ATXid_2", State: adapters.SMSFailed, ProviderStatus: "Failed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res != (messaging.DeliveryResult{Unchanged: 4}) {
		t.Errorf("late reports = %+v, want 4 unchanged", res)
	}
	if m := get(a.ID); m.State != messaging.StateDelivered || m.ProviderStatus != "Success" {
		t.Errorf("a after late reports = %s %q, want delivered Success", m.State, m.ProviderStatus)
	}
	if m := get(b.ID); m.State != messaging.StateFailed {
		t.Errorf("b after late reports = %s, want failed", m.State)
	}
	// An intermediate report on a sent message keeps it sent, and a
	// later final one settles it.
	if _, err := d.ApplyDeliveries(ctx, "twilio-ke", []adapters.DeliveryReport{{ProviderID: "ATXid_1", State: adapters.SMSAccepted}}); err != nil {
		t.Fatal(err)
	}
	if m := get(c.ID); m.State != messaging.StateSent {
		t.Errorf("c after accepted = %s, want sent", m.State)
	}
	if _, err := d.ApplyDeliveries(ctx, "twilio-ke", []adapters.DeliveryReport{{ProviderID: "ATXid_1", State: adapters.SMSRejected, Code: "21610"}}); err != nil {
		t.Fatal(err)
	}
	if m := get(c.ID); m.State != messaging.StateRejected || m.Reason != "21610" {
		t.Errorf("c after rejected = %s %q", m.State, m.Reason)
	}
	// A rejected number is known as such in the tenant, and only there.
	if err := inMsgTx(t, ms, func(tx messaging.Tx) error {
		for _, q := range []struct {
			tenant, to string
			want       bool
		}{{w.tenant, c.To, true}, {"other", c.To, false}, {w.tenant, "+254799999999", false}} {
			got, err := tx.Rejected(ctx, q.tenant, q.to)
			if err != nil {
				return err
			}
			if got != q.want {
				t.Errorf("Rejected(%s, %s) = %v, want %v", q.tenant, q.to, got, q.want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func testCampaignRows(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	ms := asMessageStore(t, w.store)
	now := w.clock.Now()
	thirty := 30
	c := messaging.Campaign{ID: "cmp_1", TenantID: w.tenant, Name: "November reminder", Template: "reminder",
		Filter: messaging.CampaignFilter{Statuses: []string{"late"}, MinDaysInArrears: 3, MaxDaysInArrears: &thirty, PlanIDs: []string{"pln_1"}},
		State:  messaging.CampaignPending, CreatedAt: now, UpdatedAt: now}
	if err := inMsgTx(t, ms, func(tx messaging.Tx) error { return tx.InsertCampaign(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	if err := inMsgTx(t, ms, func(tx messaging.Tx) error {
		got, err := tx.LockCampaign(ctx, w.tenant, c.ID)
		if err != nil {
			return err
		}
		got.State, got.Recipients, got.Skipped, got.UpdatedAt, got.CompletedAt = messaging.CampaignDone, 2, 1, w.clock.Now(), w.clock.Now()
		if err := tx.UpdateCampaign(ctx, got); err != nil {
			return err
		}
		for i, st := range []messaging.State{messaging.StateSent, messaging.StateDelivered} {
			m := w.message(fmt.Sprintf("cmp_1:%d", i), st)
			m.CampaignID = c.ID
			if _, err := tx.InsertMessage(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := ms.Campaign(ctx, w.tenant, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != messaging.CampaignDone || got.Recipients != 2 || got.Skipped != 1 || !got.CompletedAt.Equal(w.clock.Now()) ||
		got.Filter.MaxDaysInArrears == nil || *got.Filter.MaxDaysInArrears != 30 || got.Filter.MinDaysInArrears != 3 ||
		fmt.Sprint(got.Filter.Statuses, got.Filter.PlanIDs) != fmt.Sprint(c.Filter.Statuses, c.Filter.PlanIDs) || got.Template != "reminder" {
		t.Errorf("Campaign = %+v", got)
	}
	if _, err := ms.Campaign(ctx, "other", c.ID); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("Campaign of another tenant = %v, want ENOTFOUND", err)
	}
	counts, err := ms.CampaignCounts(ctx, w.tenant, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counts[messaging.StateSent] != 1 || counts[messaging.StateDelivered] != 1 || len(counts) != 2 {
		t.Errorf("CampaignCounts = %v", counts)
	}
	p, err := ms.ListMessages(ctx, w.tenant, messaging.Query{CampaignID: c.ID}, core.PageRequest{Limit: 10})
	if err != nil || len(p.Items) != 2 {
		t.Errorf("campaign messages = %d, %v; want 2", len(p.Items), err)
	}
}
