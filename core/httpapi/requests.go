package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/payg"
)

// requestAPI serves /v1/payment-requests: payments the gateway asks a
// customer to approve, initiated by a durable job of the callback host.
type requestAPI struct {
	*paygAPI
	host *callbacks.Host
	wake func()
}

func (a *requestAPI) register(g *gin.RouterGroup) {
	g.GET("/payment-requests", a.list)
	g.POST("/payment-requests", a.create)
	g.GET("/payment-requests/:id", a.get)
}

type paymentRequestJSON struct {
	ID          string             `json:"id"`
	Instance    string             `json:"instance"`
	ContractID  string             `json:"contract_id"`
	Amount      moneyJSON          `json:"amount"`
	Phone       string             `json:"phone"`
	AccountRef  string             `json:"account_ref"`
	Description string             `json:"description,omitempty"`
	Status      payg.RequestStatus `json:"status"`
	RequestID   string             `json:"request_id"`
	Reason      *string            `json:"reason"`
	PaymentID   *string            `json:"payment_id"`
	ExpiresAt   timestamp          `json:"expires_at"`
	CreatedAt   timestamp          `json:"created_at"`
	UpdatedAt   timestamp          `json:"updated_at"`
	InitiatedAt *timestamp         `json:"initiated_at"`
	FinishedAt  *timestamp         `json:"finished_at"`
}

func renderPaymentRequest(r payg.PaymentRequest) paymentRequestJSON {
	return paymentRequestJSON{
		ID: r.ID, Instance: r.Instance, ContractID: r.ContractID, Amount: money(r.Amount.Amount, r.Amount.Currency),
		Phone: "+" + r.MSISDN, AccountRef: r.AccountRef, Description: r.Description, Status: r.Status,
		RequestID: r.RequestID, Reason: optString(r.Reason), PaymentID: optString(r.PaymentID),
		ExpiresAt: timestamp(r.ExpiresAt), CreatedAt: timestamp(r.CreatedAt), UpdatedAt: timestamp(r.UpdatedAt),
		InitiatedAt: optTimestamp(r.InitiatedAt), FinishedAt: optTimestamp(r.FinishedAt),
	}
}

type paymentRequestInput struct {
	ContractID  string    `json:"contract_id"`
	Amount      moneyJSON `json:"amount"`
	Phone       string    `json:"phone"`
	Instance    string    `json:"instance"`
	Description string    `json:"description"`
}

// create stores a payment request and answers 202: the provider is called
// by the request's job, not in this request.
func (a *requestAPI) create(c *gin.Context) {
	var in paymentRequestInput
	if !bindJSON(c, &in) {
		return
	}
	if a.host == nil {
		writeProblem(c, http.StatusUnprocessableEntity, "no adapter instances are configured: payments cannot be requested",
			FieldProblem{Pointer: "/instance", Detail: "no adapter instance can request payments"})
		return
	}
	var k payg.Contract
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		k, err = findContract(ctx, r, tenant, in.ContractID)
		return err
	}) {
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	r, err := a.host.CreatePaymentRequest(ctx, tenant, callbacks.PaymentRequestInput{
		ContractID: k.ID, Instance: in.Instance, Amount: core.Money{Amount: in.Amount.Amount, Currency: in.Amount.Currency},
		Phone: in.Phone, Description: in.Description,
	})
	if err != nil {
		fail(c, err, requestPointer(err))
		return
	}
	if a.wake != nil {
		a.wake()
	}
	c.Header("Location", "/v1/payment-requests/"+r.ID)
	c.JSON(http.StatusAccepted, renderPaymentRequest(r))
}

// requestPointer names the field an invalid payment request is about.
func requestPointer(err error) string {
	msg := core.ErrorMessage(err)
	switch {
	case strings.HasPrefix(msg, "instance"):
		return "/instance"
	case strings.HasPrefix(msg, "phone"):
		return "/phone"
	}
	return "/amount"
}

func (a *requestAPI) get(c *gin.Context) {
	var r payg.PaymentRequest
	if a.read(c, func(ctx context.Context, rd payg.Reader, tenant string) (err error) {
		r, err = rd.PaymentRequest(ctx, tenant, c.Param("id"))
		return err
	}) {
		c.JSON(http.StatusOK, renderPaymentRequest(r))
	}
}

func (a *requestAPI) list(c *gin.Context) {
	q := payg.PaymentRequestQuery{Status: payg.RequestStatus(c.Query("status"))}
	listByContract(a.paygAPI, c, func(ctx context.Context, r payg.Reader, tenant, contractID string, req core.PageRequest) (core.Page[payg.PaymentRequest], error) {
		q.ContractID = contractID
		return r.ListPaymentRequests(ctx, tenant, q, req)
	}, renderPaymentRequest)
}
