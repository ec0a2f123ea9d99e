package webhook

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// EndpointLister is implemented by a store's transactions (core/sqlstore):
// the tenant's enabled endpoints, read in the event's own transaction.
type EndpointLister interface {
	EnabledWebhookEndpoints(ctx context.Context, tenant string) ([]core.WebhookEndpoint, error)
}

// Subscriber enqueues webhook deliveries for events. It implements
// payg.EventSubscriber: pass it in payg.Options.Subscribers.
type Subscriber struct {
	// MaxAttempts of each delivery; 0 is DefaultMaxAttempts.
	MaxAttempts int
}

var _ payg.EventSubscriber = Subscriber{}

// OnEvent enqueues, in tx, one delivery of e per enabled endpoint of e's
// tenant subscribed to e's type.
func (s Subscriber) OnEvent(ctx context.Context, tx payg.Tx, e payg.Event) error {
	lister, ok := tx.(EndpointLister)
	if !ok {
		return fmt.Errorf("webhook: %T cannot list webhook endpoints", tx)
	}
	eps, err := lister.EnabledWebhookEndpoints(ctx, e.TenantID)
	if err != nil {
		return fmt.Errorf("webhook: list endpoints: %w", err)
	}
	var body []byte
	for _, ep := range eps {
		if !Matches(ep.EventTypes, e.Type) {
			continue
		}
		if body == nil {
			if body, err = json.Marshal(NewEnvelope(e)); err != nil {
				return fmt.Errorf("webhook: envelope of %s: %w", e.ID, err)
			}
		}
		j, err := deliveryJob(ep.ID, e, body, deliveryKey(ep.ID, e.ID), s.maxAttempts())
		if err != nil {
			return err
		}
		if err := tx.EnqueueJob(ctx, j); err != nil {
			return fmt.Errorf("webhook: enqueue delivery of %s to %s: %w", e.ID, ep.ID, err)
		}
	}
	return nil
}

func (s Subscriber) maxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return DefaultMaxAttempts
}
