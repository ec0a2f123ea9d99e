package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// StatementCounter is implemented by stores that count the SQL statements
// they run (core/sqlstore's).
type StatementCounter interface{ Statements() int64 }

// RoundTripCounter is implemented by stores that count their round trips
// to the database and may defer writes to send them with the next
// statement (core/sqlstore's; Pipelined on PostgreSQL).
type RoundTripCounter interface {
	RoundTrips() int64
	Pipelined() bool
}

// Statements a payment may take, BEGIN and COMMIT not included, with the
// webhook subscriber in place and one endpoint subscribed to everything:
// the payment path's cost on PostgreSQL is its round trips, on SQLite the
// time it holds the single writer, so a change that adds statements to it
// should be a deliberate one.
const (
	maxAppliedStatements   = 12 // 12 measured for a tenant's first payment, 11 after (14 when the tenant was read for every payment and its device apart from its contract; 20 before events and jobs went in one INSERT each)
	maxDuplicateStatements = 2  // 1: the payment by its key (and the tenant, the first time)
	maxSuspenseStatements  = 9  // 8
)

// Round trips a payment may take where writes are deferred and sent with
// the next statement (PostgreSQL), counting BEGIN (sent with the first
// statement) and COMMIT; a tenant's first payment also reads the tenant.
const (
	maxAppliedRoundTrips   = 6 // (tenant,) payment by key (+BEGIN), contract and devices locked, seq counters (+ payment insert), endpoints, COMMIT
	maxDuplicateRoundTrips = 2 // payment by key, commit
	maxSuspenseRoundTrips  = 5
)

func testPaymentStatements(t *testing.T, h Harness) {
	w := newWorld(t, h)
	counter, ok := w.store.(StatementCounter)
	if !ok {
		t.Skipf("%T does not count its statements", w.store)
	}
	ctx := context.Background()
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	svc := payg.NewService(payg.Options{
		Store: w.pstore, Tenants: w.store, Clock: w.clock, Box: box,
		Engines:     map[payg.TokenScheme]payg.TokenEngine{payg.SchemeOpenPAYGO: openpaygo.Engine{}, payg.SchemeNexus: nexus.Engine{}},
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{}},
	})
	ws, ok := w.store.(core.WebhookStore)
	if !ok {
		t.Fatalf("%T is not a core.WebhookStore", w.store)
	}
	ep, err := webhook.NewEndpoint(w.tenant, "https://crm.example.com/hooks", []string{"*"}, 0, webhook.Egress{}, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.CreateWebhookEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	dev, err := svc.CreateDevice(ctx, w.tenant, payg.DeviceInput{
		Serial: "SHS-STMT", Scheme: payg.SchemeOpenPAYGO, SecretKeyHex: testKeyHex, StartingCode: testStartingCode, ValueDivider: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The contract's devices are sealed with w's box; this service has its
	// own, so the contract gets a device sealed with it.
	c := w.newContract(t, "AC300001", dev.ID, 0)

	trips, pipelined := w.store.(RoundTripCounter)
	pipelined = pipelined && trips.Pipelined()
	count := func(what string, n core.PaymentNotice, max, maxTrips int64, check func(payg.Outcome) error) {
		t.Helper()
		before := counter.Statements()
		var tripsBefore int64
		if pipelined {
			tripsBefore = trips.RoundTrips()
		}
		out, err := svc.ApplyNotice(ctx, w.tenant, n)
		if err != nil {
			t.Fatalf("%s: ApplyNotice: %v", what, err)
		}
		if err := check(out); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := counter.Statements() - before
		t.Logf("%s: %d statements", what, got)
		if got > max {
			t.Errorf("%s took %d SQL statements, want at most %d", what, got, max)
		}
		if pipelined {
			got := trips.RoundTrips() - tripsBefore
			t.Logf("%s: %d round trips", what, got)
			if got > maxTrips {
				t.Errorf("%s took %d round trips, want at most %d", what, got, maxTrips)
			}
		}
	}
	count("first payment", notice("STMT0001", "AC300001", 15000), maxAppliedStatements, maxAppliedRoundTrips, func(o payg.Outcome) error {
		if o.Contract == nil || o.Contract.ID != c.ID || len(o.Tokens) != 1 {
			return fmt.Errorf("outcome %+v: want contract %s paid with one token", o, c.ID)
		}
		return nil
	})
	count("second payment", notice("STMT0002", "AC300001", 5000), maxAppliedStatements, maxAppliedRoundTrips, func(o payg.Outcome) error {
		if o.Contract == nil || len(o.Tokens) != 1 {
			return fmt.Errorf("outcome %+v: want the contract paid with one token", o)
		}
		return nil
	})
	count("duplicate", notice("STMT0002", "AC300001", 5000), maxDuplicateStatements, maxDuplicateRoundTrips, func(o payg.Outcome) error {
		if !o.Duplicate {
			return fmt.Errorf("outcome %+v: want a duplicate", o)
		}
		return nil
	})
	count("unknown account", notice("STMT0003", "NOBODY", 5000), maxSuspenseStatements, maxSuspenseRoundTrips, func(o payg.Outcome) error {
		if o.Suspense == nil {
			return fmt.Errorf("outcome %+v: want suspense", o)
		}
		return nil
	})
	// Every event of the payments above got its one delivery job.
	var events int
	w.view(t, func(r payg.Reader) error {
		p, err := r.ListEvents(ctx, w.tenant, payg.EventQuery{}, core.PageRequest{Limit: 100})
		events = len(p.Items)
		return err
	})
	jobs, err := w.store.(core.JobService).ListJobs(ctx, core.JobQuery{TenantID: w.tenant, Queue: webhook.Queue}, core.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if events == 0 || len(jobs.Items) != events {
		t.Errorf("%d webhook jobs for %d events, want one each", len(jobs.Items), events)
	}
}

// testGroupCommit runs concurrent transactions through InGroupTx, some of
// which fail or panic after writing: exactly the others' writes are kept,
// and each caller learns its own outcome.
func testGroupCommit(t *testing.T, h Harness) {
	w := newWorld(t, h)
	g, ok := w.pstore.(payg.GroupStore)
	if !ok {
		t.Skipf("%T has no InGroupTx", w.pstore)
	}
	ctx := context.Background()
	const n = 48
	var before int64
	counter, counts := w.store.(StatementCounter)
	if counts {
		before = counter.Statements()
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = g.InGroupTx(ctx, func(tx payg.Tx) error {
				c := payg.Customer{
					ID: fmt.Sprintf("cus_group%03d", i), TenantID: w.tenant, ExternalID: fmt.Sprintf("group-%03d", i),
					Name: "Group", Phone: "+254700000001", PhoneHash: "h", Language: "en", CreatedAt: w.clock.Now(), UpdatedAt: w.clock.Now(),
				}
				if err := tx.InsertCustomer(ctx, c); err != nil {
					return err
				}
				switch i % 4 {
				case 1:
					return errors.New("refused")
				case 2:
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	if counts {
		// More than one statement per caller means savepoints: callers
		// shared transactions.
		t.Logf("%d callers ran %d statements", n, counter.Statements()-before)
	}
	for i, err := range errs {
		var got error
		w.view(t, func(r payg.Reader) error {
			_, got = r.Customer(ctx, w.tenant, fmt.Sprintf("cus_group%03d", i))
			return nil
		})
		switch i % 4 {
		case 1, 2:
			if err == nil {
				t.Errorf("caller %d: InGroupTx = nil, want its error", i)
			}
			if core.ErrorCode(got) != core.ENOTFOUND {
				t.Errorf("caller %d failed but its customer reads %v, want ENOTFOUND", i, got)
			}
		default:
			if err != nil {
				t.Errorf("caller %d: InGroupTx = %v, want nil", i, err)
			}
			if got != nil {
				t.Errorf("caller %d succeeded but its customer reads %v", i, got)
			}
		}
	}
}
