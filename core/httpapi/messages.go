package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
)

// messageAPI serves the customers' text messages (/v1/messages).
type messageAPI struct {
	store messaging.Store // nil: the store keeps no messages
	payg  payg.Store
	svc   *messaging.Service // nil: messages cannot be resent
	wake  func()             // nil: the job runner finds resends by polling
}

func (s *Server) newMessageAPI() *messageAPI {
	return &messageAPI{store: s.opts.Messages, payg: s.opts.PAYGStore, svc: s.opts.Messaging, wake: s.opts.WakeJobs}
}

func (a *messageAPI) register(g *gin.RouterGroup) {
	h := func(f gin.HandlerFunc) gin.HandlerFunc {
		if a.store == nil {
			return messagesNotConfigured
		}
		return f
	}
	g.GET("/messages", h(a.list))
	g.GET("/messages/:id", h(a.get))
	resend := a.resend
	if a.svc == nil {
		resend = messagesNotConfigured
	}
	g.POST("/messages/:id/resend", h(resend))
}

func messagesNotConfigured(c *gin.Context) {
	writeProblem(c, http.StatusServiceUnavailable, "messages are not available on this gateway's store")
}

type messageJSON struct {
	ID             string     `json:"id"`
	CustomerID     *string    `json:"customer_id"`
	ContractID     *string    `json:"contract_id"`
	CampaignID     *string    `json:"campaign_id"`
	Template       *string    `json:"template"`
	Language       string     `json:"language"`
	To             string     `json:"to"`
	Body           string     `json:"body"`
	Encoding       string     `json:"encoding"`
	Segments       int        `json:"segments"`
	State          string     `json:"state"`
	Instance       *string    `json:"instance"`
	ProviderID     *string    `json:"provider_id"`
	ProviderStatus *string    `json:"provider_status"`
	Reason         *string    `json:"reason"`
	Attempts       int        `json:"attempts"`
	CreatedAt      timestamp  `json:"created_at"`
	UpdatedAt      timestamp  `json:"updated_at"`
	SentAt         *timestamp `json:"sent_at"`
	FinalAt        *timestamp `json:"final_at"`
}

func renderMessage(m messaging.Message) messageJSON {
	return messageJSON{
		ID: m.ID, CustomerID: optString(m.CustomerID), ContractID: optString(m.ContractID), CampaignID: optString(m.CampaignID),
		Template: optString(m.Template), Language: m.Language, To: m.To, Body: m.Body, Encoding: string(m.Encoding),
		Segments: m.Segments, State: string(m.State), Instance: optString(m.Instance), ProviderID: optString(m.ProviderID),
		ProviderStatus: optString(m.ProviderStatus), Reason: optString(m.Reason), Attempts: m.Attempts,
		CreatedAt: timestamp(m.CreatedAt), UpdatedAt: timestamp(m.UpdatedAt),
		SentAt: optTimestamp(m.SentAt), FinalAt: optTimestamp(m.FinalAt),
	}
}

func (a *messageAPI) list(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	tenant := TenantID(ctx)
	q := messaging.Query{State: messaging.State(c.Query("state"))}
	if ref := c.Query("customer_id"); ref != "" || c.Query("contract_id") != "" {
		err := a.payg.View(ctx, func(r payg.Reader) error {
			if ref != "" {
				cu, err := findCustomer(ctx, r, tenant, ref)
				if err != nil {
					return err
				}
				q.CustomerID = cu.ID
			}
			if ref := c.Query("contract_id"); ref != "" {
				k, err := findContract(ctx, r, tenant, ref)
				if err != nil {
					return err
				}
				q.ContractID = k.ID
			}
			return nil
		})
		if err != nil {
			WriteError(c, err)
			return
		}
	}
	p, err := a.store.ListMessages(ctx, tenant, q, req)
	if err != nil {
		WriteError(c, err)
		return
	}
	writeList(c, p, renderMessage)
}

func (a *messageAPI) get(c *gin.Context) {
	ctx := c.Request.Context()
	m, err := a.store.Message(ctx, TenantID(ctx), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, renderMessage(m))
}

// resend queues again a message whose send outcome is unknown, or that
// failed: 202 with the message, queued; 409 in any other state.
func (a *messageAPI) resend(c *gin.Context) {
	ctx := c.Request.Context()
	m, err := a.svc.Resend(ctx, TenantID(ctx), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	if a.wake != nil {
		a.wake()
	}
	c.JSON(http.StatusAccepted, renderMessage(m))
}

// ---- campaigns

type campaignFilterJSON struct {
	Statuses         []string `json:"statuses"`
	MinDaysInArrears int      `json:"min_days_in_arrears"`
	MaxDaysInArrears *int     `json:"max_days_in_arrears"`
	PlanIDs          []string `json:"plan_ids"`
}

type campaignProgressJSON struct {
	Recipients int `json:"recipients"`
	Skipped    int `json:"skipped"`
	Queued     int `json:"queued"`
	Sent       int `json:"sent"`
	Delivered  int `json:"delivered"`
	Failed     int `json:"failed"`
	Rejected   int `json:"rejected"`
	Unknown    int `json:"unknown"`
}

type campaignJSON struct {
	ID                 string               `json:"id"`
	Name               string               `json:"name"`
	Template           *string              `json:"template"`
	Body               *string              `json:"body"`
	Filter             campaignFilterJSON   `json:"filter"`
	State              string               `json:"state"`
	Progress           campaignProgressJSON `json:"progress"`
	CreatedAt          timestamp            `json:"created_at"`
	RecipientsChosenAt *timestamp           `json:"recipients_chosen_at"`
}

func renderCampaign(p messaging.CampaignProgress) campaignJSON {
	f := p.Filter
	out := campaignJSON{
		ID: p.ID, Name: p.Name, Template: optString(p.Template), Body: optString(p.Body), State: string(p.State),
		Filter: campaignFilterJSON{Statuses: f.Statuses, MinDaysInArrears: f.MinDaysInArrears, MaxDaysInArrears: f.MaxDaysInArrears, PlanIDs: f.PlanIDs},
		Progress: campaignProgressJSON{Recipients: p.Recipients, Skipped: p.Skipped,
			Queued: p.Counts[messaging.StateQueued], Sent: p.Counts[messaging.StateSent], Delivered: p.Counts[messaging.StateDelivered],
			Failed: p.Counts[messaging.StateFailed], Rejected: p.Counts[messaging.StateRejected],
			Unknown: p.Counts[messaging.StateUnknown]},
		CreatedAt: timestamp(p.CreatedAt), RecipientsChosenAt: optTimestamp(p.CompletedAt),
	}
	if out.Filter.Statuses == nil {
		out.Filter.Statuses = []string{}
	}
	if out.Filter.PlanIDs == nil {
		out.Filter.PlanIDs = []string{}
	}
	return out
}

// campaignAPI serves /v1/campaigns.
type campaignAPI struct {
	svc   *messaging.Service // nil: campaigns are not available
	store messaging.Store
}

func (s *Server) newCampaignAPI() *campaignAPI {
	a := &campaignAPI{svc: s.opts.Messaging, store: s.opts.Messages}
	if a.store == nil {
		a.svc = nil
	}
	return a
}

func (a *campaignAPI) register(g *gin.RouterGroup) {
	h := func(f gin.HandlerFunc) gin.HandlerFunc {
		if a.svc == nil {
			return messagesNotConfigured
		}
		return f
	}
	g.POST("/campaigns", h(a.create))
	g.GET("/campaigns/:id", h(a.get))
	g.GET("/campaigns/:id/recipients", h(a.recipients))
}

func (a *campaignAPI) create(c *gin.Context) {
	var in struct {
		Name     string             `json:"name"`
		Template string             `json:"template"`
		Body     string             `json:"body"`
		Filter   campaignFilterJSON `json:"filter"`
	}
	if !bindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	tenant := TenantID(ctx)
	if (in.Template == "") == (in.Body == "") {
		writeProblem(c, http.StatusUnprocessableEntity, "give a template or a body, not both",
			FieldProblem{Pointer: "/body", Detail: "exactly one of template and body"})
		return
	}
	cmp, err := a.svc.CreateCampaign(ctx, tenant, messaging.CampaignInput{Name: in.Name, Template: in.Template, Body: in.Body,
		Filter: messaging.CampaignFilter{Statuses: in.Filter.Statuses, MinDaysInArrears: in.Filter.MinDaysInArrears,
			MaxDaysInArrears: in.Filter.MaxDaysInArrears, PlanIDs: in.Filter.PlanIDs}})
	if core.ErrorCode(err) == core.EINVALID {
		writeProblem(c, http.StatusUnprocessableEntity, core.ErrorMessage(err), FieldProblem{Pointer: "/body", Detail: core.ErrorMessage(err)})
		return
	}
	if err != nil {
		WriteError(c, err)
		return
	}
	c.Header("Location", "/v1/campaigns/"+cmp.ID)
	c.JSON(http.StatusAccepted, renderCampaign(messaging.CampaignProgress{Campaign: cmp}))
}

func (a *campaignAPI) get(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := a.svc.Progress(ctx, TenantID(ctx), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, renderCampaign(p))
}

func (a *campaignAPI) recipients(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	tenant := TenantID(ctx)
	cmp, err := a.store.Campaign(ctx, tenant, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	p, err := a.store.ListMessages(ctx, tenant, messaging.Query{CampaignID: cmp.ID, State: messaging.State(c.Query("state"))}, req)
	if err != nil {
		WriteError(c, err)
		return
	}
	writeList(c, p, renderMessage)
}
