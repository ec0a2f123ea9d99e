package payg

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// AsyncTokenEngine is a TokenEngine whose codes come later, from a device
// maker's cloud (adapters/tokenhttp). Its AddCredit and Unlock return codes
// without Code and with the device's next local sequence number as Counter
// (vendors keep their own counters; the sequence only keeps the device's
// token counts distinct). The Service stores such a token pending and
// enqueues, in the same transaction, the job Job returns; that job's
// handler settles the token with CompleteToken or FailToken.
type AsyncTokenEngine interface {
	TokenEngine
	// Job returns the durable job that asks the vendor for r's code. The
	// Service sets its TenantID and Key ("token:" + the token id); the
	// engine chooses the Queue, MaxAttempts and Payload. Everything the
	// request needs must be in the payload, computed now, so every retry
	// sends the same request.
	Job(r VendorRequest) (core.Job, error)
}

// VendorRequest is what a vendor's job knows of a pending token, fixed
// when the token is stored.
type VendorRequest struct {
	Token  Token
	Device Device
	// AccountNumber is the contract's, empty for a device without one.
	AccountNumber string
	// CreditUntil is the contract's credit expiry after the payment
	// (zero for unlocks and manual tokens).
	CreditUntil time.Time
	// Amount is the payment that bought the credit (zero for manual
	// tokens). A contract with several devices sends it with each.
	Amount core.Money
}

// TokenJobKey is the key of the job settling token id: at most one job per
// token.
func TokenJobKey(tokenID string) string { return "token:" + tokenID }

// asyncEngine returns the engine of scheme if it issues codes through a
// vendor's cloud.
func (s *Service) asyncEngine(scheme TokenScheme) (AsyncTokenEngine, bool) {
	a, ok := s.engines[scheme].(AsyncTokenEngine)
	return a, ok
}

// enqueueVendorJob stores the job asking eng's vendor for t's code.
func (s *Service) enqueueVendorJob(ctx context.Context, tx Tx, eng AsyncTokenEngine, r VendorRequest) error {
	j, err := eng.Job(r)
	if err != nil {
		return fmt.Errorf("token %s vendor job: %w", r.Token.ID, err)
	}
	j.TenantID, j.Key = r.Token.TenantID, TokenJobKey(r.Token.ID)
	if err := tx.EnqueueJob(ctx, j); err != nil {
		return fmt.Errorf("enqueue token %s vendor job: %w", r.Token.ID, err)
	}
	return nil
}

// Token returns one token of tenant.
func (s *Service) Token(ctx context.Context, tenant, id string) (Token, error) {
	var t Token
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		t, err = r.Token(ctx, tenant, id)
		return err
	})
	return t, err
}

// CompleteToken settles a pending token with the code its vendor issued:
// status issued and a token.issued event. Completing it again with the
// same code returns it unchanged; any other settling of a settled token is
// ECONFLICT.
func (s *Service) CompleteToken(ctx context.Context, tenant, tokenID, code string) (Token, error) {
	return s.settle(ctx, tenant, tokenID, TokenIssued, code, "", "")
}

// FailToken settles a pending token as failed for reason (the vendor said
// no, or gave no answer after every attempt): status failed and a
// token.failed event. The payment that bought it stays applied; nothing is
// rolled back. Failing it again returns it unchanged; failing an issued
// token is ECONFLICT.
func (s *Service) FailToken(ctx context.Context, tenant, tokenID, reason string) (Token, error) {
	if strings.TrimSpace(reason) == "" {
		reason = "unknown"
	}
	return s.settle(ctx, tenant, tokenID, TokenFailed, "", reason, "")
}

// MaxTokenCode bounds a code entered by hand.
const MaxTokenCode = 64

// SettleTokenByHand is an operator's settling of a vendor's pending token
// that the gateway could not settle itself: the request's outcome was
// unknown and the vendor is not idempotent (held for review), or the
// vendor stayed down. With to = TokenIssued, code is the code the operator
// obtained from the vendor (its portal, a phone call); with TokenFailed,
// the token is given up. why is kept in the event (reason). The token's
// job, if it is still to run, finds it settled and asks the vendor
// nothing. Settling it again the same way returns it unchanged; any other
// settling of a settled token is ECONFLICT.
func (s *Service) SettleTokenByHand(ctx context.Context, tenant, tokenID string, to TokenStatus, code, why string) (Token, error) {
	code, why = strings.TrimSpace(code), strings.TrimSpace(why)
	switch {
	case why == "":
		return Token{}, core.Errorf(core.EINVALID, "reason: required")
	case to == TokenIssued && (code == "" || len(code) > MaxTokenCode):
		return Token{}, core.Errorf(core.EINVALID, "code: the vendor's code, 1 to %d characters", MaxTokenCode)
	case to == TokenFailed && code != "":
		return Token{}, core.Errorf(core.EINVALID, "code: a failed token has no code")
	case to != TokenIssued && to != TokenFailed:
		return Token{}, core.Errorf(core.EINVALID, "status: want issued or failed")
	}
	reason := ""
	if to == TokenFailed {
		reason = "settled by hand: " + why
	}
	return s.settle(ctx, tenant, tokenID, to, code, reason, why)
}

// settle moves a pending token to status to; note, when set, is kept in
// the event as reason (a settling by hand).
func (s *Service) settle(ctx context.Context, tenant, tokenID string, to TokenStatus, code, reason, note string) (Token, error) {
	var out Token
	err := s.inTx(ctx, func(tx Tx) error {
		t, err := tx.Token(ctx, tenant, tokenID)
		if err != nil {
			return err
		}
		if t.Status != TokenPending {
			if t.Status == to && t.Code == code {
				out = t // settled the same way before
				return nil
			}
			return core.Errorf(core.ECONFLICT, "token %s is %s already", tokenID, t.Status)
		}
		now := s.clock.Now()
		t.Status, t.Code, t.FailureReason, t.SettledAt = to, code, reason, now
		switch err := tx.UpdateToken(ctx, t); {
		case core.ErrorCode(err) == core.ECONFLICT:
			return errRetry // settled by a concurrent call: look again
		case err != nil:
			return err
		}
		typ, data := EventTokenIssued, tokenData(t)
		if to == TokenFailed {
			typ = EventTokenFailed
		}
		if note != "" {
			data["reason"] = note
		}
		out = t
		return s.emit(ctx, tx, tenant, t.ContractID, typ, data, now)
	})
	if err != nil {
		return Token{}, fmt.Errorf("payg: settle token %s as %s: %w", tokenID, to, err)
	}
	return out, nil
}
