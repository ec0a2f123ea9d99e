package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/fakecrm"
)

// TestPerContractOrder: with several workers and the CRM failing for a
// while then recovering, every event is delivered once, and the first
// delivery attempts of each contract's events reach the CRM in the
// contract's sequence order (issue #8, acceptance 2).
func TestPerContractOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := newWorld(t, b, options{workers: 8, breakerFailures: 4, breakerOpenFor: 5 * time.Millisecond})
		accounts := []string{"AC100234"}
		for i := 2; i <= 3; i++ {
			cust, err := w.svc.CreateCustomer(ctx, tenantID, payg.CustomerInput{Name: "Customer", Phone: fmt.Sprintf("070000000%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			dev, err := w.svc.CreateDevice(ctx, tenantID, payg.DeviceInput{Serial: fmt.Sprintf("SHS-%04d", i), Scheme: payg.SchemeNone})
			if err != nil {
				t.Fatal(err)
			}
			account := fmt.Sprintf("AC10023%d", 4+i)
			if _, err := w.svc.CreateContract(ctx, tenantID, payg.ContractInput{
				AccountNumber: account, CustomerID: cust.ID, DeviceIDs: []string{dev.ID},
				Plan: lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES", Price: 5000, PricePeriod: lease.PeriodDay, GraceDays: 3, DefaultDays: 30},
			}); err != nil {
				t.Fatal(err)
			}
			accounts = append(accounts, account)
		}

		// The CRM is down while the payments come in, interleaved across
		// the contracts.
		w.crm.Set(fakecrm.Fail)
		for i := range 4 {
			for _, a := range accounts {
				n := core.PaymentNotice{
					Instance: "mpesa-ke", ProviderTxID: fmt.Sprintf("TX-%s-%d", a, i), Status: core.NoticeSucceeded,
					Amount: core.Money{Amount: 5000, Currency: "KES"}, AccountRef: a,
				}
				if _, err := w.svc.ApplyNotice(ctx, tenantID, n); err != nil {
					t.Fatal(err)
				}
				w.runner.Wake()
			}
		}
		events := w.events()
		if len(events) < 3*4*2 {
			t.Fatalf("%d events", len(events))
		}
		// Down for a while: outcomes until a good share of the deliveries
		// have failed, the clock jumping past every retry delay.
		failed := map[string]bool{}
		for len(failed) < len(events)/2 {
			r := w.next()
			if r.Outcome == "retry" {
				failed[r.Job.ID] = true
			}
			w.advance(11 * time.Hour)
		}
		// Back.
		w.crm.Set(fakecrm.OK)
		deadline := time.Now().Add(60 * time.Second)
		for len(w.jobs(core.JobDone)) < len(events) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d deliveries done after a minute", len(w.jobs(core.JobDone)), len(events))
			}
			select {
			case <-w.results:
			case <-time.After(20 * time.Millisecond):
			}
			w.advance(11 * time.Hour)
		}

		delivered := w.crm.Delivered()
		for _, e := range events {
			if delivered[e.ID] != 1 {
				t.Errorf("event %s delivered %d times, want once", e.ID, delivered[e.ID])
			}
		}
		// First attempts, in arrival order, per contract.
		received := w.crm.Received()
		slices.SortFunc(received, func(a, b fakecrm.Request) int { return a.Arrival - b.Arrival })
		seen := map[string]bool{}
		last := map[string]int64{}
		firsts := 0
		for _, r := range received {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			firsts++
			var env struct {
				ContractID string `json:"contract_id"`
				Sequence   int64  `json:"sequence"`
			}
			if err := json.Unmarshal(r.Body, &env); err != nil {
				t.Fatal(err)
			}
			if env.Sequence != last[env.ContractID]+1 {
				t.Errorf("contract %s: first attempt of sequence %d after %d", env.ContractID, env.Sequence, last[env.ContractID])
			}
			last[env.ContractID] = env.Sequence
		}
		if firsts != len(events) || len(last) != len(accounts) {
			t.Errorf("%d events first attempted over %d contracts, want %d over %d", firsts, len(last), len(events), len(accounts))
		}
		if len(received) <= len(events) {
			t.Errorf("%d requests for %d events: the CRM never failed", len(received), len(events))
		}
	})
}
