package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
)

// An operator's actions on the lease and token engine: closing a contract
// by hand, issuing a token outside a payment.

type contractStatusInput struct {
	Status lease.Status `json:"status"`
	Reason string       `json:"reason"`
}

// setContractStatus cancels, repossesses or writes off a contract
// (payg.Service.SetStatus); a change the status machine forbids is 409.
func (a *paygAPI) setContractStatus(c *gin.Context) {
	var in contractStatusInput
	if !bindJSON(c, &in) {
		return
	}
	var k payg.Contract
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		k, err = findContract(ctx, r, tenant, c.Param("id"))
		return err
	}) {
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	loc, err := a.location(ctx, tenant)
	if err != nil {
		WriteError(c, err)
		return
	}
	out, err := a.svc.SetStatus(ctx, tenant, k.ID, in.Status, in.Reason)
	if errors.Is(err, lease.ErrIllegalTransition) {
		from := lease.StatusAt(k.Plan, k.State, a.clock.Now(), loc)
		writeProblem(c, http.StatusConflict, fmt.Sprintf("contract %s is %s; it cannot become %s", k.AccountNumber, from, in.Status))
		return
	}
	if err != nil {
		fail(c, err, "/status")
		return
	}
	c.JSON(http.StatusOK, renderContract(out, a.clock.Now(), loc))
}

type tokenInput struct {
	DeviceID string         `json:"device_id"`
	Kind     payg.TokenKind `json:"kind"`
	Days     *int           `json:"days"`
	Reason   string         `json:"reason"`
}

// issueToken issues a token by hand (payg.Service.IssueToken) and answers
// it with its code.
func (a *paygAPI) issueToken(c *gin.Context) {
	var in tokenInput
	if !bindJSON(c, &in) {
		return
	}
	// The document requires days with add_days; refuse it with the
	// others rather than ignore it.
	if in.Kind != payg.TokenAddDays && in.Days != nil {
		writeProblem(c, http.StatusUnprocessableEntity, "only add_days takes days",
			FieldProblem{Pointer: "/days", Detail: "not allowed with kind " + string(in.Kind)})
		return
	}
	var d payg.Device
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		d, err = findDevice(ctx, r, tenant, in.DeviceID)
		return err
	}) {
		return
	}
	if d.Scheme == payg.SchemeNone {
		writeProblem(c, http.StatusUnprocessableEntity, "device "+d.Serial+" takes no tokens",
			FieldProblem{Pointer: "/device_id", Detail: "the device's token_scheme is none"})
		return
	}
	days := 0
	if in.Days != nil {
		days = *in.Days
	}
	ctx := c.Request.Context()
	t, err := a.svc.IssueToken(ctx, TenantID(ctx), d.ID, in.Kind, days, in.Reason)
	if err != nil {
		// What the service refuses is the days (out of the device's
		// range) or the kind (a scheme without counter sync).
		pointer := "/kind"
		if in.Kind == payg.TokenAddDays {
			pointer = "/days"
		}
		fail(c, err, pointer)
		return
	}
	c.JSON(http.StatusCreated, renderToken(t))
}

type tokenSettleInput struct {
	Status payg.TokenStatus `json:"status"`
	Code   string           `json:"code"`
	Reason string           `json:"reason"`
}

// settleToken settles a token vendor's pending token by hand
// (payg.Service.SettleTokenByHand): issued with the code the operator got
// from the vendor, or failed.
func (a *paygAPI) settleToken(c *gin.Context) {
	var in tokenSettleInput
	if !bindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	t, err := a.svc.SettleTokenByHand(ctx, TenantID(ctx), c.Param("id"), in.Status, in.Code, in.Reason)
	if err != nil {
		pointer := "/code"
		for _, f := range []string{"reason", "status"} {
			if strings.HasPrefix(core.ErrorMessage(err), f+":") {
				pointer = "/" + f
			}
		}
		fail(c, err, pointer)
		return
	}
	c.JSON(http.StatusOK, renderToken(t))
}
