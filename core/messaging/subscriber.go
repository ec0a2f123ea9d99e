package messaging

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
)

// eventPayment is the payment an event carries.
type eventPayment struct {
	ID           string     `json:"id"`
	ProviderTxID string     `json:"provider_tx_id"`
	Amount       core.Money `json:"amount"`
	AccountRef   string     `json:"account_ref"`
	PayerMSISDN  string     `json:"payer_msisdn"`
}

// eventData is the union of the fields messaging reads from events.
type eventData struct {
	Payment    eventPayment `json:"payment"`
	ContractID string       `json:"contract_id"`
	ID         string       `json:"id"`         // token.issued: the token
	PaymentID  string       `json:"payment_id"` // token.issued: empty for hand-issued tokens
	Code       string       `json:"code"`
	Seconds    int64        `json:"seconds"`
	Status     string       `json:"status"`
}

// OnEvent implements payg.EventSubscriber: in the event's transaction, it
// stores the message the event sends, if any, with its send job. The cause
// key is the event id and the template, so an event never sends twice.
func (s *Service) OnEvent(ctx context.Context, tx payg.Tx, e payg.Event) error {
	set := s.o.Settings(e.TenantID)
	if !set.Enabled || !set.sends(e.Type) {
		return nil
	}
	var data eventData
	if err := json.Unmarshal(e.Data, &data); err != nil {
		return fmt.Errorf("messaging: event %s data: %w", e.ID, err)
	}
	// The tenant is read in the event's transaction when the store can:
	// a second pool connection taken while the transaction holds one
	// deadlocks under as many concurrent payments as the pool is large.
	var t core.Tenant
	var err error
	if tr, ok := tx.(interface {
		Tenant(ctx context.Context, id string) (core.Tenant, error)
	}); ok {
		t, err = tr.Tenant(ctx, e.TenantID)
	} else {
		t, err = s.o.Tenants.Tenant(ctx, e.TenantID)
	}
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return fmt.Errorf("messaging: tenant %s time zone: %w", t.ID, err)
	}
	var d *draft
	switch e.Type {
	case payg.EventPaymentApplied:
		d, err = s.paymentReceived(ctx, tx, t, loc, data)
	case payg.EventPaymentUnmatched:
		d = s.paymentUnmatched(t, set, data)
	case payg.EventContractPaidOff:
		d, err = s.paidOff(ctx, tx, t, data)
	case payg.EventTokenIssued:
		if data.Status != string(payg.TokenIssued) {
			return nil
		}
		if data.PaymentID != "" {
			// A payment's token is in its payment_received message,
			// unless a vendor issued it later (it was pending then).
			tk, err := tx.Token(ctx, e.TenantID, data.ID)
			if err != nil {
				return fmt.Errorf("messaging: token %s: %w", data.ID, err)
			}
			if tk.SettledAt.IsZero() {
				return nil
			}
		}
		d, err = s.tokenIssued(ctx, tx, t, data)
	}
	if err != nil || d == nil {
		return err
	}
	d.cause = e.ID + ":" + d.template
	_, err = s.queue(ctx, tx, *d)
	return err
}

// customerOf reads a contract and its customer.
func customerOf(ctx context.Context, r payg.Reader, tenant, contractID string) (payg.Contract, payg.Customer, error) {
	c, err := r.Contract(ctx, tenant, contractID)
	if err != nil {
		return c, payg.Customer{}, fmt.Errorf("messaging: contract %s: %w", contractID, err)
	}
	cu, err := r.Customer(ctx, tenant, c.CustomerID)
	if err != nil {
		return c, cu, fmt.Errorf("messaging: customer %s: %w", c.CustomerID, err)
	}
	return c, cu, nil
}

func (s *Service) paymentReceived(ctx context.Context, tx payg.Tx, t core.Tenant, loc *time.Location, data eventData) (*draft, error) {
	c, cu, err := customerOf(ctx, tx, t.ID, data.ContractID)
	if err != nil {
		return nil, err
	}
	lang := cu.Language
	v := map[string]string{
		"name": firstName(cu.Name), "account": c.AccountNumber, "amount": FormatMoney(data.Payment.Amount, lang),
	}
	if c.Plan.TotalPrice > 0 {
		v["percent"] = Percent(c.State.PrincipalPaid(), c.Plan.TotalPrice)
		v["balance"] = FormatMoney(core.Money{Amount: c.State.Outstanding, Currency: c.State.Currency}, lang)
	}
	// The tokens this payment bought were stored before its events.
	tokens, err := tx.Tokens(ctx, t.ID, c.ID)
	if err != nil {
		return nil, fmt.Errorf("messaging: tokens of %s: %w", c.ID, err)
	}
	var codes []string
	for _, tk := range tokens {
		if tk.PaymentID == data.Payment.ID && tk.Status == payg.TokenIssued && tk.Code != "" {
			codes = append(codes, GroupToken(tk.Code))
		}
	}
	v["token"] = strings.Join(codes, ", ")
	if exp := c.State.Expiry; !exp.IsZero() && !c.State.Status.IsClosed() {
		now := s.o.Clock.Now()
		if c.Plan.Kind == lease.KindPAYGCredit {
			v["expiry"] = FormatDateTime(exp, loc)
		} else {
			v["expiry"] = FormatDate(exp, loc)
		}
		v["days"] = strconv.Itoa(DaysLeft(now, exp))
	}
	return &draft{tenant: t, customerID: cu.ID, contractID: c.ID, template: TemplatePaymentReceived,
		language: lang, phone: cu.Phone, values: v}, nil
}

func (s *Service) paymentUnmatched(t core.Tenant, set Settings, data eventData) *draft {
	p := data.Payment
	if p.PayerMSISDN == "" {
		return nil // nobody to tell (a hashed or hidden payer)
	}
	ref := p.AccountRef
	if ref == "" {
		ref = p.ProviderTxID
	}
	// The payer is not a known customer: the tenant's language.
	lang := set.Language
	if lang == "" {
		lang = DefaultLanguage
	}
	return &draft{tenant: t, template: TemplatePaymentUnmatched, language: lang, phone: p.PayerMSISDN,
		values: map[string]string{"amount": FormatMoney(p.Amount, lang), "reference": ref, "support": set.SupportPhone}}
}

func (s *Service) paidOff(ctx context.Context, tx payg.Tx, t core.Tenant, data eventData) (*draft, error) {
	c, cu, err := customerOf(ctx, tx, t.ID, data.ContractID)
	if err != nil {
		return nil, err
	}
	return &draft{tenant: t, customerID: cu.ID, contractID: c.ID, template: TemplatePaidOff, language: cu.Language,
		phone: cu.Phone, values: map[string]string{
			"name": firstName(cu.Name), "account": c.AccountNumber,
			"total_paid": FormatMoney(core.Money{Amount: c.State.TotalPaid, Currency: c.State.Currency}, cu.Language),
		}}, nil
}

func (s *Service) tokenIssued(ctx context.Context, tx payg.Tx, t core.Tenant, data eventData) (*draft, error) {
	if data.ContractID == "" || data.Code == "" {
		return nil, nil // a device on no contract has no customer to tell
	}
	c, cu, err := customerOf(ctx, tx, t.ID, data.ContractID)
	if err != nil {
		return nil, err
	}
	v := map[string]string{"name": firstName(cu.Name), "account": c.AccountNumber, "token": GroupToken(data.Code)}
	if data.Seconds > 0 {
		v["days"] = strconv.FormatInt(data.Seconds/86400, 10)
	}
	return &draft{tenant: t, customerID: cu.ID, contractID: c.ID, template: TemplateTokenIssued, language: cu.Language,
		phone: cu.Phone, values: v}, nil
}
