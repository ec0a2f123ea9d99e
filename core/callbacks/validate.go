package callbacks

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core/payg"
)

// validate answers a synchronous accept/reject request (M-Pesa C2B
// validation) from the contracts, writing nothing.
func (h *Host) validate(ctx context.Context, log *slog.Logger, in Instance, req *adapters.Request) adapters.Response {
	v, ok := in.Adapter.(adapters.CallbackValidator)
	if !ok {
		h.count(in.Config.Name, req.Kind, outcomeNotFound)
		return adapters.Response{Status: http.StatusNotFound}
	}
	res, err := v.ValidateCallback(ctx, req, checker{h.svc})
	if err != nil {
		log.Error("account check failed; answered as the instance is configured", "error", err)
	}
	if res == nil {
		return h.fail(log, in.Config.Name, req.Kind, "validate", err)
	}
	outcome := outcomeRejected
	if res.Accepted {
		outcome = outcomeAccepted
	}
	h.count(in.Config.Name, req.Kind, outcome)
	h.health.record(in.Config.Name, h.clock.Now(), err)
	log.Info("payment validation answered", "accepted", res.Accepted, "code", res.Code, "reason", res.Reason)
	return res.Ack
}

// checker answers adapters' account questions from payg.
type checker struct{ svc *payg.Service }

func (c checker) CheckAccount(ctx context.Context, q adapters.AccountQuery) (adapters.AccountDecision, error) {
	if q.AccountRef == "" && q.PayerMSISDN == "" && q.PayerMSISDNHash == "" {
		// A till payment with nothing to match on is still taken: it
		// goes to suspense, where an operator can place it.
		return adapters.AccountDecision{Verdict: adapters.AccountAccepted, Reason: "no reference: kept for matching"}, nil
	}
	_, reason, detail, err := c.svc.CheckAccount(ctx, q.Tenant, q.AccountRef, q.PayerMSISDN, q.PayerMSISDNHash, q.Amount)
	if err != nil {
		return adapters.AccountDecision{}, err
	}
	switch reason {
	case "":
		return adapters.AccountDecision{Verdict: adapters.AccountAccepted}, nil
	case payg.SuspenseUnknownAccount:
		return adapters.AccountDecision{Verdict: adapters.AccountUnknown, Reason: detail}, nil
	case payg.SuspenseBelowMinimum:
		return adapters.AccountDecision{Verdict: adapters.AccountAmountRejected, Reason: detail}, nil
	}
	return adapters.AccountDecision{Verdict: adapters.AccountRejected, Reason: detail}, nil
}
