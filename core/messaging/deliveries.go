package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// Deliveries applies providers' delivery reports to messages. It
// implements callbacks.DeliveryApplier.
type Deliveries struct {
	Store  payg.Store // its transactions must be messaging.Tx
	Clock  core.Clock
	Logger *slog.Logger
}

// DeliveryResult counts what a batch of reports did.
type DeliveryResult struct {
	Applied   int // moved a message forward
	Unchanged int // a duplicate, or older than what the message knows
	Unknown   int // no message with that provider id
}

// ApplyDeliveries applies reports from instance, in one transaction: each
// moves its message (found by instance and provider id) forward, never
// back; a report for an unknown id is logged and ignored; a repeat changes
// nothing. An error means nothing was applied and the provider should be
// asked to try again.
func (d Deliveries) ApplyDeliveries(ctx context.Context, instance string, reports []adapters.DeliveryReport) (DeliveryResult, error) {
	var res DeliveryResult
	if len(reports) == 0 {
		return res, nil
	}
	now := d.Clock.Now()
	err := d.Store.InTx(ctx, func(ptx payg.Tx) error {
		res = DeliveryResult{}
		tx, ok := ptx.(Tx)
		if !ok {
			return fmt.Errorf("messaging: %T does not store messages", ptx)
		}
		for _, r := range reports {
			applied, err := applyReport(ctx, tx, instance, r, now)
			switch {
			case core.ErrorCode(err) == core.ENOTFOUND:
				res.Unknown++
				d.log().Warn("delivery report for an unknown message ignored", "instance", instance,
					"provider_id", r.ProviderID, "state", r.State)
			case err != nil:
				return err
			case applied:
				res.Applied++
			default:
				res.Unchanged++
			}
		}
		return nil
	})
	if err != nil {
		return DeliveryResult{}, fmt.Errorf("messaging: apply %d delivery reports from %s: %w", len(reports), instance, err)
	}
	return res, nil
}

func (d Deliveries) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func applyReport(ctx context.Context, tx Tx, instance string, r adapters.DeliveryReport, now time.Time) (bool, error) {
	to, ok := FromSMSState(r.State)
	if !ok {
		return false, nil // a retry is no delivery state
	}
	m, err := tx.LockMessageByProvider(ctx, instance, r.ProviderID)
	if err != nil {
		return false, err
	}
	next, moved := Advance(m.State, to)
	if !moved {
		return false, nil
	}
	at := r.At
	if at.IsZero() {
		at = now
	}
	m.State, m.UpdatedAt = next, now
	if r.ProviderStatus != "" {
		m.ProviderStatus = r.ProviderStatus
	}
	if reason := reasonText(r.Code, r.Reason); reason != "" {
		m.Reason = reason
	}
	if m.SentAt.IsZero() {
		m.SentAt = at
	}
	if next.Final() {
		m.FinalAt = at
	}
	return true, tx.UpdateMessage(ctx, m)
}

// reasonText joins a provider's code and reason: "406 UserInBlacklist".
func reasonText(code, reason string) string {
	switch {
	case code == "":
		return reason
	case reason == "":
		return code
	}
	return code + " " + reason
}
