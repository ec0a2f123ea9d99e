package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// EventSource reads events for replays. The SQL stores (core/sqlite,
// core/postgres) implement it.
type EventSource interface {
	Event(ctx context.Context, tenant, id string) (payg.Event, error)
	View(ctx context.Context, fn func(payg.Reader) error) error
}

// Replayer enqueues deliveries again. A replay is a new delivery job whose
// key is the original's plus a "#replay:" suffix; the original job and its
// attempts log are kept. The receiver sees the same webhook-id (the event
// id) and can drop what it already has.
type Replayer struct {
	Events    EventSource
	Jobs      core.JobService
	Endpoints core.WebhookStore
	// MaxAttempts of each replayed delivery; 0 is DefaultMaxAttempts.
	MaxAttempts int
	// Wake, when set, is called after jobs were enqueued (jobs.Runner.Wake).
	Wake func()
}

// ReplayEvent delivers one event again to endpointID, or to every enabled
// endpoint of the tenant when endpointID is "", if subscribed to its
// type. It returns the deliveries enqueued.
func (r Replayer) ReplayEvent(ctx context.Context, tenant, eventID, endpointID string) (int, error) {
	e, err := r.Events.Event(ctx, tenant, eventID)
	if err != nil {
		return 0, fmt.Errorf("webhook: replay event %s: %w", eventID, err)
	}
	eps, err := r.endpoints(ctx, tenant, endpointID)
	if err != nil {
		return 0, err
	}
	n, err := r.enqueueEvents(ctx, []payg.Event{e}, eps, newID("rpl_"))
	r.wake(n)
	return n, err
}

// ReplayRange delivers again every event of the tenant created in
// [from, to) to endpointID, or to every enabled endpoint when it is "",
// where subscribed. It returns the deliveries enqueued.
func (r Replayer) ReplayRange(ctx context.Context, tenant string, from, to time.Time, endpointID string) (int, error) {
	if !from.Before(to) {
		return 0, core.Errorf(core.EINVALID, "replay range: from must be before to")
	}
	eps, err := r.endpoints(ctx, tenant, endpointID)
	if err != nil {
		return 0, err
	}
	replay := newID("rpl_")
	total := 0
	defer func() { r.wake(total) }()
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		var page core.Page[payg.Event]
		err := r.Events.View(ctx, func(rd payg.Reader) error {
			var err error
			page, err = rd.ListEvents(ctx, tenant, payg.EventQuery{Since: from}, req)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("webhook: replay range: list events: %w", err)
		}
		var batch []payg.Event
		last := false
		for _, e := range page.Items {
			if !e.CreatedAt.Before(to) {
				last = true
				break
			}
			batch = append(batch, e)
		}
		n, err := r.enqueueEvents(ctx, batch, eps, replay)
		total += n
		if err != nil || last || page.NextCursor == "" {
			return total, err
		}
		req.Cursor = page.NextCursor
	}
}

// ReplayDead delivers again every dead delivery of an endpoint, with the
// body it had. Replaying the same dead delivery twice enqueues it once. It
// returns the deliveries enqueued.
func (r Replayer) ReplayDead(ctx context.Context, tenant, endpointID string) (int, error) {
	if _, err := r.endpoints(ctx, tenant, endpointID); err != nil {
		return 0, err
	}
	total := 0
	defer func() { r.wake(total) }()
	// Replays are created as the dead jobs are listed: collect first, so
	// the listing is not disturbed by what it adds.
	var dead []core.Job
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		page, err := r.Jobs.ListJobs(ctx, core.JobQuery{
			TenantID: tenant, Queue: Queue, State: core.JobDead, KeyPrefix: deliveryKeyPrefix(endpointID),
		}, req)
		if err != nil {
			return 0, fmt.Errorf("webhook: replay dead deliveries of %s: %w", endpointID, err)
		}
		dead = append(dead, page.Items...)
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	for _, j := range dead {
		ok, err := r.Jobs.EnqueueJob(ctx, core.Job{
			TenantID: tenant, Queue: Queue, Key: j.ReplayKey(j.ID), Payload: j.Payload, MaxAttempts: r.maxAttempts(),
			OrderKey: j.OrderKey, OrderSeq: j.OrderSeq,
		})
		if err != nil {
			return total, fmt.Errorf("webhook: replay dead delivery %s: %w", j.ID, err)
		}
		if ok {
			total++
		}
	}
	return total, nil
}

// endpoints returns the one endpoint asked for (it must be enabled), or
// all enabled endpoints of the tenant.
func (r Replayer) endpoints(ctx context.Context, tenant, endpointID string) ([]core.WebhookEndpoint, error) {
	if endpointID != "" {
		ep, err := r.Endpoints.WebhookEndpoint(ctx, tenant, endpointID)
		if err != nil {
			return nil, fmt.Errorf("webhook: replay: %w", err)
		}
		if !ep.Enabled {
			return nil, core.Errorf(core.ECONFLICT, "webhook endpoint %s is disabled: enable it before replaying", ep.ID)
		}
		return []core.WebhookEndpoint{ep}, nil
	}
	var out []core.WebhookEndpoint
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		page, err := r.Endpoints.ListWebhookEndpoints(ctx, tenant, req)
		if err != nil {
			return nil, fmt.Errorf("webhook: replay: list endpoints: %w", err)
		}
		for _, ep := range page.Items {
			if ep.Enabled {
				out = append(out, ep)
			}
		}
		if page.NextCursor == "" {
			return out, nil
		}
		req.Cursor = page.NextCursor
	}
}

func (r Replayer) enqueueEvents(ctx context.Context, events []payg.Event, eps []core.WebhookEndpoint, replay string) (int, error) {
	n := 0
	for _, e := range events {
		body, err := json.Marshal(NewEnvelope(e))
		if err != nil {
			return n, fmt.Errorf("webhook: envelope of %s: %w", e.ID, err)
		}
		for _, ep := range eps {
			if !Matches(ep.EventTypes, e.Type) {
				continue
			}
			key := core.Job{Key: deliveryKey(ep.ID, e.ID)}.ReplayKey(replay)
			j, err := deliveryJob(ep.ID, e, body, key, r.maxAttempts())
			if err != nil {
				return n, err
			}
			ok, err := r.Jobs.EnqueueJob(ctx, j)
			if err != nil {
				return n, fmt.Errorf("webhook: replay %s to %s: %w", e.ID, ep.ID, err)
			}
			if ok {
				n++
			}
		}
	}
	return n, nil
}

func (r Replayer) maxAttempts() int {
	if r.MaxAttempts > 0 {
		return r.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (r Replayer) wake(n int) {
	if n > 0 && r.Wake != nil {
		r.Wake()
	}
}
