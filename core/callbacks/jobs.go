package callbacks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
)

// What the job handlers (payment requests, asynchronous requests,
// quarantine checks) have in common: each reads its payload, loads its
// stored record and asks the provider the same way. What each does with
// the answer stays in the handler.

// decodeJob reads j's payload into p. A payload that cannot be read now
// never will be: the error is permanent. what names the job in it.
func decodeJob(j core.Job, what string, p any) error {
	if err := json.Unmarshal(j.Payload, p); err != nil {
		return jobs.Permanent(fmt.Errorf("%s job %s: %w", what, j.ID, err))
	}
	return nil
}

// loadFailed is the error of a job whose record could not be loaded: a
// record that does not exist is not retried, a store error is.
func loadFailed(err error) error {
	if core.ErrorCode(err) == core.ENOTFOUND {
		return jobs.Permanent(err)
	}
	return err
}

// queryStatus asks q about ref, bounded by the policy's CallTimeout.
func (h *Host) queryStatus(ctx context.Context, q adapters.StatusQuerier, ref adapters.PaymentRef) (*adapters.PaymentStatus, error) {
	cctx, cancel := context.WithTimeout(ctx, h.policy.CallTimeout)
	defer cancel()
	return q.QueryStatus(cctx, ref)
}

// cannotTell reports whether a status query's error is final: the
// instance is not set up to ask, the provider has no such payment, the
// query was refused before the call, or the provider refused it for good.
// Asking again would get the same answer.
func cannotTell(err error) bool {
	var pe *adapters.ProviderError
	return errors.Is(err, adapters.ErrNotConfigured) || errors.Is(err, adapters.ErrPaymentNotFound) ||
		core.ErrorCode(err) == core.EINVALID || (errors.As(err, &pe) && !pe.Retryable)
}
