package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
)

// messageAPI serves the customers' text messages (/v1/messages).
type messageAPI struct {
	store messaging.Store // nil: the store keeps no messages
	payg  payg.Store
}

func (s *Server) newMessageAPI() *messageAPI {
	return &messageAPI{store: s.opts.Messages, payg: s.opts.PAYGStore}
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
