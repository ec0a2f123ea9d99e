package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// statusQueryAPI serves /v1/status-queries: asynchronous provider status
// queries (M-Pesa Transaction Status), those the janitor sends and those
// an operator asks for, with where each stands.
type statusQueryAPI struct {
	*requestAPI
}

func (a *statusQueryAPI) register(g *gin.RouterGroup) {
	g.GET("/status-queries", a.list)
	g.POST("/status-queries", a.create)
	g.GET("/status-queries/:id", a.get)
}

type statusQueryJSON struct {
	ID                string          `json:"id"`
	Instance          string          `json:"instance"`
	Receipt           *string         `json:"receipt"`
	State             payg.AsyncState `json:"state"`
	Attempts          int             `json:"attempts"`
	MaxAttempts       int             `json:"max_attempts"`
	RequestRef        *string         `json:"request_ref"`
	ProviderRef       *string         `json:"provider_ref"`
	ResultCode        *string         `json:"result_code"`
	ResultDescription *string         `json:"result_description"`
	PaymentRequestID  *string         `json:"payment_request_id"`
	QuarantineID      *string         `json:"quarantine_id"`
	CreatedAt         timestamp       `json:"created_at"`
	UpdatedAt         timestamp       `json:"updated_at"`
	SentAt            *timestamp      `json:"sent_at"`
	NextAttemptAt     *timestamp      `json:"next_attempt_at"`
	FinishedAt        *timestamp      `json:"finished_at"`
}

func renderStatusQuery(r payg.AsyncRequest) statusQueryJSON {
	return statusQueryJSON{
		ID: r.ID, Instance: r.Instance, Receipt: optString(r.RefProviderTxID), State: r.State, Attempts: r.Attempts,
		MaxAttempts: r.MaxAttempts, RequestRef: optString(r.RequestRef), ProviderRef: optString(r.ProviderRef),
		ResultCode: optString(r.ResultCode), ResultDescription: optString(r.ResultDescription),
		PaymentRequestID: optString(r.PaymentRequestID), QuarantineID: optString(r.QuarantineID),
		CreatedAt: timestamp(r.CreatedAt), UpdatedAt: timestamp(r.UpdatedAt), SentAt: optTimestamp(r.SentAt),
		NextAttemptAt: optTimestamp(r.NextAttemptAt), FinishedAt: optTimestamp(r.FinishedAt),
	}
}

type statusQueryInput struct {
	Instance string `json:"instance"`
	Receipt  string `json:"receipt"`
}

// create stores a status query and answers 202: the provider is asked by
// the query's job, and answers by callback.
func (a *statusQueryAPI) create(c *gin.Context) {
	var in statusQueryInput
	if !bindJSON(c, &in) {
		return
	}
	if a.host == nil {
		writeProblem(c, http.StatusUnprocessableEntity, "no adapter instances are configured: no provider can be asked",
			FieldProblem{Pointer: "/instance", Detail: "no such adapter instance"})
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	r, err := a.host.StartStatusQuery(ctx, tenant, in.Instance, in.Receipt)
	if err != nil {
		pointer := "/instance"
		if strings.HasPrefix(core.ErrorMessage(err), "receipt") {
			pointer = "/receipt"
		}
		fail(c, err, pointer)
		return
	}
	c.Header("Location", "/v1/status-queries/"+r.ID)
	c.JSON(http.StatusAccepted, renderStatusQuery(r))
}

func (a *statusQueryAPI) get(c *gin.Context) {
	var r payg.AsyncRequest
	if a.read(c, func(ctx context.Context, rd payg.Reader, tenant string) (err error) {
		r, err = rd.AsyncRequest(ctx, tenant, c.Param("id"))
		if err == nil && r.Operation != payg.OperationStatusQuery {
			err = core.Errorf(core.ENOTFOUND, "status query %q not found", c.Param("id"))
		}
		return err
	}) {
		c.JSON(http.StatusOK, renderStatusQuery(r))
	}
}

func (a *statusQueryAPI) list(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	q := payg.AsyncRequestQuery{Operation: payg.OperationStatusQuery, State: payg.AsyncState(c.Query("state")),
		Receipt: c.Query("receipt")}
	var p core.Page[payg.AsyncRequest]
	if a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		p, err = r.ListAsyncRequests(ctx, tenant, q, req)
		return err
	}) {
		writeList(c, p, renderStatusQuery)
	}
}
