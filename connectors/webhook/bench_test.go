package webhook_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
	"github.com/payg-gateway/gateway/test/fakecrm"
)

// BenchmarkDeliveries measures signed deliveries per second to a local
// receiver that verifies every signature (the fake CRM), through the whole
// path: job claimed, endpoint read, signed, POSTed, attempt logged, job
// completed. 16 workers, wall clock. The ordered runs give the events 50
// contracts, so each contract's deliveries are first tried in sequence
// (50 chains for 16 workers); the others have no contract.
func BenchmarkDeliveries(b *testing.B) {
	for _, be := range backends() {
		for _, ordered := range []bool{false, true} {
			name := be.name
			if ordered {
				name += "/ordered"
			}
			b.Run(name, func(b *testing.B) { benchDeliveries(b, be, ordered) })
		}
	}
}

func benchDeliveries(b *testing.B, be backend, ordered bool) {
	ctx := context.Background()
	s := be.open(b, core.SystemClock{})
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		b.Fatal(err)
	}
	s.(core.WebhookSecretSealer).UseSecretBox(box) // secrets sealed, as serve runs
	if _, err := s.CreateTenant(ctx, core.Tenant{ID: tenantID, Name: "Bench", TimeZone: "UTC"}); err != nil {
		b.Fatal(err)
	}
	crm := fakecrm.New(fakecrm.Options{})
	defer crm.Close()
	ep, err := webhook.NewEndpoint(tenantID, crm.URL(), []string{"*"}, 0, webhook.Egress{AllowLoopback: true}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := s.CreateWebhookEndpoint(ctx, ep); err != nil {
		b.Fatal(err)
	}
	crm.SetSecrets(ep.Secrets[0].Value)
	go func() { // the fake CRM reports every request; drop them
		for range crm.Requests() {
		}
	}()
	sub := webhook.Subscriber{}
	for i := 0; i < b.N; i += 500 {
		err := s.InTx(ctx, func(tx payg.Tx) error {
			for k := i; k < min(i+500, b.N); k++ {
				e := payg.Event{ID: fmt.Sprintf("evt_%08d", k), TenantID: tenantID, Type: payg.EventPaymentApplied,
					Data: []byte(`{"amount":{"amount":15000,"currency":"KES"}}`), CreatedAt: time.Now().UTC()}
				if ordered {
					e.ContractID, e.Seq = fmt.Sprintf("con_%03d", k%50), int64(k/50+1)
				}
				if err := sub.OnEvent(ctx, tx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	d, err := webhook.NewDeliverer(webhook.DelivererOptions{Store: s, Egress: webhook.Egress{AllowLoopback: true}})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	all := make(chan struct{})
	r := jobs.New(jobs.Options{Queue: s, Workers: 16, PollInterval: 5 * time.Millisecond, Observe: func(res jobs.Result) {
		if res.Outcome != jobs.OutcomeDone {
			b.Errorf("%+v", res)
		}
		if n.Add(1) == int64(b.N) {
			close(all)
		}
	}})
	r.Register(webhook.Queue, d, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { done <- r.Run(runCtx) }()
	<-all
	took := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "deliveries/s")
}
