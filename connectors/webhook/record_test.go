package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// stuckStore serves one endpoint, and its attempt log hangs until the
// context ends, as a write on a silently dead database connection does.
type stuckStore struct {
	core.WebhookStore
	ep core.WebhookEndpoint
}

func (s stuckStore) WebhookEndpoint(context.Context, string, string) (core.WebhookEndpoint, error) {
	return s.ep, nil
}

func (s stuckStore) InsertWebhookAttempt(ctx context.Context, _ core.WebhookAttempt) error {
	<-ctx.Done()
	return ctx.Err()
}

// A delivery whose attempt cannot be logged still ends: the worker is not
// held forever by a dead database connection.
func TestRecordingTheAttemptIsBounded(t *testing.T) {
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer crm.Close()
	now := time.Now()
	ep, err := NewEndpoint("t", crm.URL, []string{"*"}, 0, Egress{AllowLoopback: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDeliverer(DelivererOptions{Store: stuckStore{ep: ep}, Egress: Egress{AllowLoopback: true}, RecordTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(delivery{EndpointID: ep.ID, EventID: "evt_1", EventType: "payment.applied", Body: `{"id":"evt_1"}`})
	done := make(chan error, 1)
	go func() {
		done <- d.Handle(context.Background(), core.Job{ID: "job_1", TenantID: "t", Queue: Queue, Attempts: 1, MaxAttempts: 3, Payload: payload})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Handle = %v, want nil: the CRM took the delivery", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Handle still waiting for the attempt log after 10s")
	}
}
