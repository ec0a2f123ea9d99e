package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
)

// paygAPI serves the lease and token engine's resources under /v1:
// customers, devices, plans, contracts (with their ledger and tokens),
// payments, suspense items and events. Every query is scoped by the
// caller's tenant, so another tenant's id is simply not found.
type paygAPI struct {
	svc     *payg.Service
	store   payg.Store
	tenants core.TenantService
	clock   core.Clock
}

func (a *paygAPI) register(g *gin.RouterGroup) {
	g.GET("/customers", listAll(a, payg.Reader.ListCustomers, renderCustomer))
	g.POST("/customers", a.createCustomer)
	g.GET("/customers/:id", a.getCustomer)
	g.GET("/devices", listAll(a, payg.Reader.ListDevices, renderDevice))
	g.POST("/devices", a.createDevice)
	g.GET("/devices/:id", a.getDevice)
	g.GET("/plans", listAll(a, payg.Reader.ListPlans, renderPlan))
	g.POST("/plans", a.createPlan)
	g.GET("/plans/:id", a.getPlan)
	g.GET("/contracts", a.listContracts)
	g.POST("/contracts", a.createContract)
	g.GET("/contracts/:id", a.getContract)
	g.GET("/contracts/:id/ledger", a.contractLedger)
	g.GET("/contracts/:id/tokens", a.contractTokens)
	g.POST("/contracts/:id/status", a.setContractStatus)
	g.POST("/tokens", a.issueToken)
	g.POST("/tokens/:id/settle", a.settleToken)
	g.GET("/payments", a.listPayments)
	g.POST("/payments", a.createPayment)
	g.GET("/payments/:id", a.getPayment)
	g.POST("/payments/:id/reversal", a.reversePayment)
	g.GET("/suspense", a.listSuspense)
	g.GET("/suspense/:id", a.getSuspense)
	g.POST("/suspense/:id/match", a.matchSuspense)
	g.POST("/suspense/:id/refund", a.refundSuspense)
	g.GET("/events", a.listEvents)
}

// ---- JSON shapes

type moneyJSON struct {
	Amount   int64         `json:"amount"`
	Currency core.Currency `json:"currency"`
}

func money(amount int64, c core.Currency) moneyJSON { return moneyJSON{Amount: amount, Currency: c} }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTimestamp(t time.Time) *timestamp {
	if t.IsZero() {
		return nil
	}
	ts := timestamp(t)
	return &ts
}

type customerJSON struct {
	ID         string    `json:"id"`
	ExternalID *string   `json:"external_id"`
	Name       string    `json:"name"`
	Phone      string    `json:"phone"`
	Language   string    `json:"language"`
	CreatedAt  timestamp `json:"created_at"`
	UpdatedAt  timestamp `json:"updated_at"`
}

func renderCustomer(c payg.Customer) customerJSON {
	return customerJSON{ID: c.ID, ExternalID: optString(c.ExternalID), Name: c.Name, Phone: c.Phone,
		Language: c.Language, CreatedAt: timestamp(c.CreatedAt), UpdatedAt: timestamp(c.UpdatedAt)}
}

// deviceJSON is a device as the API shows it: never its secret key, nor
// its OpenPAYGO starting code (which, with the key, seeds every token).
type deviceJSON struct {
	ID           string           `json:"id"`
	ExternalID   *string          `json:"external_id"`
	Serial       string           `json:"serial"`
	TokenScheme  payg.TokenScheme `json:"token_scheme"`
	ValueDivider *int             `json:"value_divider,omitempty"`
	Restricted   *bool            `json:"restricted_digit_set,omitempty"`
	Counter      int64            `json:"counter"`
	Unlocked     bool             `json:"unlocked"`
	CreatedAt    timestamp        `json:"created_at"`
	UpdatedAt    timestamp        `json:"updated_at"`
}

func renderDevice(d payg.Device) deviceJSON {
	out := deviceJSON{ID: d.ID, ExternalID: optString(d.ExternalID), Serial: d.Serial, TokenScheme: d.Scheme,
		Counter: d.Counter, Unlocked: d.Unlocked, CreatedAt: timestamp(d.CreatedAt), UpdatedAt: timestamp(d.UpdatedAt)}
	if d.Scheme == payg.SchemeOpenPAYGO {
		out.ValueDivider, out.Restricted = &d.ValueDivider, &d.Restricted
	}
	return out
}

type planJSON struct {
	ID         string     `json:"id"`
	ExternalID *string    `json:"external_id"`
	Name       string     `json:"name"`
	Terms      lease.Plan `json:"terms"`
	CreatedAt  timestamp  `json:"created_at"`
	UpdatedAt  timestamp  `json:"updated_at"`
}

func renderPlan(p payg.Plan) planJSON {
	return planJSON{ID: p.ID, ExternalID: optString(p.ExternalID), Name: p.Name, Terms: p.Terms,
		CreatedAt: timestamp(p.CreatedAt), UpdatedAt: timestamp(p.UpdatedAt)}
}

type balancesJSON struct {
	TotalPaid    moneyJSON `json:"total_paid"`
	Outstanding  moneyJSON `json:"outstanding"`
	Arrears      moneyJSON `json:"arrears"`
	Overpayment  moneyJSON `json:"overpayment"`
	PenaltiesDue moneyJSON `json:"penalties_due"`
	FeesDue      moneyJSON `json:"fees_due"`
}

type contractJSON struct {
	ID              string       `json:"id"`
	ExternalID      *string      `json:"external_id"`
	AccountNumber   string       `json:"account_number"`
	CustomerID      string       `json:"customer_id"`
	DeviceIDs       []string     `json:"device_ids"`
	PlanID          *string      `json:"plan_id"`
	Terms           lease.Plan   `json:"terms"`
	Status          lease.Status `json:"status"`
	DaysInArrears   int          `json:"days_in_arrears"`
	ActivatedAt     *timestamp   `json:"activated_at"`
	CreditExpiry    *timestamp   `json:"credit_expiry"`
	PaidThrough     *timestamp   `json:"paid_through"`
	Balances        balancesJSON `json:"balances"`
	InstalmentsPaid int          `json:"instalments_paid"`
	EnergyWh        int64        `json:"energy_wh"`
	Version         int64        `json:"version"`
	CreatedAt       timestamp    `json:"created_at"`
	UpdatedAt       timestamp    `json:"updated_at"`
}

// renderContract shows the status, days in arrears and arrears as of now
// in the tenant's time zone: late and defaulted are never stored.
func renderContract(c payg.Contract, now time.Time, loc *time.Location) contractJSON {
	st, cur := c.State, c.State.Currency
	// The stored Outstanding is as of the last ledger line, so a new
	// contract would show 0; it is the total price less principal paid.
	outstanding := st.Outstanding
	if c.Plan.TotalPrice > 0 {
		outstanding = max(0, c.Plan.TotalPrice-st.PrincipalPaid())
	}
	return contractJSON{
		ID: c.ID, ExternalID: optString(c.ExternalID), AccountNumber: c.AccountNumber, CustomerID: c.CustomerID,
		DeviceIDs: c.DeviceIDs, PlanID: optString(c.PlanID), Terms: c.Plan,
		Status:        lease.StatusAt(c.Plan, st, now, loc),
		DaysInArrears: lease.DaysInArrears(c.Plan, st, now, loc),
		ActivatedAt:   optTimestamp(st.ActivatedAt), CreditExpiry: optTimestamp(st.Expiry), PaidThrough: optTimestamp(st.PaidThrough()),
		Balances: balancesJSON{
			TotalPaid: money(st.TotalPaid, cur), Outstanding: money(outstanding, cur),
			Arrears: money(lease.ArrearsAt(c.Plan, st, now, loc), cur), Overpayment: money(st.Overpayment, cur),
			PenaltiesDue: money(st.PenaltiesDue, cur), FeesDue: money(st.FeesDue, cur),
		},
		InstalmentsPaid: st.InstalmentsPaid, EnergyWh: st.EnergyWh, Version: c.Version,
		CreatedAt: timestamp(c.CreatedAt), UpdatedAt: timestamp(c.UpdatedAt),
	}
}

type paymentJSON struct {
	ID           string             `json:"id"`
	Instance     string             `json:"instance"`
	ProviderTxID string             `json:"provider_tx_id"`
	Status       payg.PaymentStatus `json:"status"`
	Amount       moneyJSON          `json:"amount"`
	AccountRef   string             `json:"account_ref"`
	PayerMSISDN  *string            `json:"payer_msisdn"`
	PayerName    *string            `json:"payer_name"`
	ContractID   *string            `json:"contract_id"`
	OccurredAt   *timestamp         `json:"occurred_at"`
	ReceivedAt   timestamp          `json:"received_at"`
	Reason       *string            `json:"reason"`
}

func renderPayment(p payg.Payment) paymentJSON {
	txID := p.ProviderTxID
	if p.Instance == payg.ManualInstance {
		txID = strings.TrimPrefix(txID, p.TenantID+":") // the reference the caller gave
	}
	return paymentJSON{ID: p.ID, Instance: p.Instance, ProviderTxID: txID, Status: p.Status,
		Amount: money(p.Amount.Amount, p.Amount.Currency), AccountRef: p.AccountRef,
		PayerMSISDN: optString(p.PayerMSISDN), PayerName: optString(p.PayerName), ContractID: optString(p.ContractID),
		OccurredAt: optTimestamp(p.OccurredAt), ReceivedAt: timestamp(p.ReceivedAt), Reason: optString(p.Reason)}
}

// manualTxID is the deduplication key of a manual payment. Instance names
// are global, so the reference is qualified by the tenant: two
// distributors may use the same receipt numbers.
func manualTxID(tenant, reference string) string { return tenant + ":" + reference }

type tokenJSON struct {
	ID         string           `json:"id"`
	DeviceID   string           `json:"device_id"`
	ContractID *string          `json:"contract_id"`
	PaymentID  *string          `json:"payment_id"`
	Scheme     payg.TokenScheme `json:"scheme"`
	Type       string           `json:"type"`
	Value      int64            `json:"value"`
	Seconds    int64            `json:"seconds"`
	Count      int64            `json:"count"`
	Code       string           `json:"code"`
	Status     payg.TokenStatus `json:"status"`
	// FailureReason is shown for failed tokens only.
	FailureReason *string   `json:"failure_reason,omitempty"`
	CreatedAt     timestamp `json:"created_at"`
}

func renderToken(t payg.Token) tokenJSON {
	return tokenJSON{ID: t.ID, DeviceID: t.DeviceID, ContractID: optString(t.ContractID), PaymentID: optString(t.PaymentID),
		Scheme: t.Scheme, Type: t.Type, Value: t.Value, Seconds: t.Seconds, Count: t.Count, Code: t.Code,
		Status: t.Status, FailureReason: optString(t.FailureReason), CreatedAt: timestamp(t.CreatedAt)}
}

type suspenseJSON struct {
	ID         string              `json:"id"`
	Payment    paymentJSON         `json:"payment"`
	Reason     payg.SuspenseReason `json:"reason"`
	Detail     string              `json:"detail"`
	Status     payg.SuspenseStatus `json:"status"`
	ContractID *string             `json:"contract_id"`
	CreatedAt  timestamp           `json:"created_at"`
	ResolvedAt *timestamp          `json:"resolved_at"`
}

// renderSuspense shows an item with the payment it holds, which is what
// an operator needs to decide where the money goes.
func renderSuspense(s payg.SuspenseItem, p payg.Payment) suspenseJSON {
	return suspenseJSON{ID: s.ID, Payment: renderPayment(p), Reason: s.Reason, Detail: s.Detail, Status: s.Status,
		ContractID: optString(s.ContractID), CreatedAt: timestamp(s.CreatedAt), ResolvedAt: optTimestamp(s.ResolvedAt)}
}

type ledgerLineJSON struct {
	Seq         int64          `json:"seq"`
	PaymentID   *string        `json:"payment_id"`
	Kind        lease.LineKind `json:"kind"`
	Amount      moneyJSON      `json:"amount"`
	At          timestamp      `json:"at"`
	Reversal    bool           `json:"reversal"`
	Instalment  int            `json:"instalment,omitempty"`
	Seconds     int64          `json:"seconds,omitempty"`
	DebtSeconds int64          `json:"debt_seconds,omitempty"`
	Wh          int64          `json:"wh,omitempty"`
	DebtWh      int64          `json:"debt_wh,omitempty"`
	CarryBefore int64          `json:"carry_before,omitempty"`
	CarryAfter  int64          `json:"carry_after,omitempty"`
	Status      lease.Status   `json:"status,omitempty"`
	Note        string         `json:"note,omitempty"`
}

func renderLedgerLine(l payg.LedgerLine, cur core.Currency) ledgerLineJSON {
	x := l.Line
	return ledgerLineJSON{Seq: l.Seq, PaymentID: optString(l.PaymentID), Kind: x.Kind, Amount: money(x.Amount, cur),
		At: timestamp(x.At), Reversal: x.Reversal, Instalment: x.Instalment, Seconds: x.Seconds, DebtSeconds: x.DebtSeconds,
		Wh: x.Wh, DebtWh: x.DebtWh, CarryBefore: x.CarryBefore, CarryAfter: x.CarryAfter, Status: x.Status, Note: x.Note}
}

type eventJSON struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	ContractID *string         `json:"contract_id"`
	Sequence   *int64          `json:"sequence"`
	Data       json.RawMessage `json:"data"`
	CreatedAt  timestamp       `json:"created_at"`
}

func renderEvent(e payg.Event) eventJSON {
	out := eventJSON{ID: e.ID, Type: e.Type, ContractID: optString(e.ContractID), Data: e.Data, CreatedAt: timestamp(e.CreatedAt)}
	if e.ContractID != "" {
		out.Sequence = &e.Seq
	}
	return out
}

// paymentOutcomeJSON is what became of a payment written through the API.
type paymentOutcomeJSON struct {
	Payment  paymentJSON   `json:"payment"`
	Contract *contractJSON `json:"contract"`
	Suspense *suspenseJSON `json:"suspense"`
	Tokens   []tokenJSON   `json:"tokens"`
}

func renderOutcome(o payg.Outcome, now time.Time, loc *time.Location) paymentOutcomeJSON {
	out := paymentOutcomeJSON{Payment: renderPayment(o.Payment), Tokens: make([]tokenJSON, 0, len(o.Tokens))}
	if o.Contract != nil {
		k := renderContract(*o.Contract, now, loc)
		out.Contract = &k
	}
	if o.Suspense != nil {
		s := renderSuspense(*o.Suspense, o.Payment)
		out.Suspense = &s
	}
	for _, t := range o.Tokens {
		out.Tokens = append(out.Tokens, renderToken(t))
	}
	return out
}

// ---- helpers

// read runs fn in a read-only transaction of the caller's tenant and
// answers the error if it fails; the handler writes its answer after read
// returns true, never from inside the transaction.
func (a *paygAPI) read(c *gin.Context, fn func(ctx context.Context, r payg.Reader, tenant string) error) bool {
	ctx := c.Request.Context()
	tenant := TenantID(ctx)
	if err := a.store.View(ctx, func(r payg.Reader) error { return fn(ctx, r, tenant) }); err != nil {
		WriteError(c, err)
		return false
	}
	return true
}

// externalIDPrefix marks a reference by the CRM's id: "external_id:C-1001".
const externalIDPrefix = "external_id:"

// lookup finds a row by the gateway's id, or by the CRM's id when ref is
// written "external_id:VALUE".
func lookup[T any](ref string, byID, byExternal func(string) (T, error)) (T, error) {
	if ext, ok := strings.CutPrefix(ref, externalIDPrefix); ok {
		return byExternal(ext)
	}
	return byID(ref)
}

func findCustomer(ctx context.Context, r payg.Reader, tenant, ref string) (payg.Customer, error) {
	return lookup(ref, func(id string) (payg.Customer, error) { return r.Customer(ctx, tenant, id) },
		func(ext string) (payg.Customer, error) { return r.CustomerByExternalID(ctx, tenant, ext) })
}

func findDevice(ctx context.Context, r payg.Reader, tenant, ref string) (payg.Device, error) {
	return lookup(ref, func(id string) (payg.Device, error) { return r.Device(ctx, tenant, id) },
		func(ext string) (payg.Device, error) { return r.DeviceByExternalID(ctx, tenant, ext) })
}

func findContract(ctx context.Context, r payg.Reader, tenant, ref string) (payg.Contract, error) {
	return lookup(ref, func(id string) (payg.Contract, error) { return r.Contract(ctx, tenant, id) },
		func(ext string) (payg.Contract, error) { return r.ContractByExternalID(ctx, tenant, ext) })
}

// location is the tenant's time zone, in which statuses and days in
// arrears are reckoned.
func (a *paygAPI) location(ctx context.Context, tenant string) (*time.Location, error) {
	t, err := a.tenants.Tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("tenant %s time zone: %w", tenant, err)
	}
	return loc, nil
}

// fail answers err; an EINVALID error is 422 with a field problem at
// pointer, the part of the request it is about.
func fail(c *gin.Context, err error, pointer string) {
	if core.ErrorCode(err) != core.EINVALID || pointer == "" {
		WriteError(c, err)
		return
	}
	msg := core.ErrorMessage(err)
	writeProblem(c, http.StatusUnprocessableEntity, msg, FieldProblem{Pointer: pointer, Detail: msg})
}

// failPlan answers an error of plan terms at prefix ("/terms"): every rule
// they break is a field problem of its own.
func failPlan(c *gin.Context, err error, prefix string) {
	var fields []FieldProblem
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case *lease.FieldError:
			fields = append(fields, FieldProblem{Pointer: prefix + planFieldPointer(x.Field), Detail: x.Reason})
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		default:
			if u := errors.Unwrap(e); u != nil {
				walk(u)
			}
		}
	}
	walk(err)
	slices.SortStableFunc(fields, func(x, y FieldProblem) int { return strings.Compare(x.Pointer, y.Pointer) })
	if len(fields) == 0 {
		WriteError(c, err)
		return
	}
	writeProblem(c, http.StatusUnprocessableEntity, "the plan terms break "+plural(len(fields), "rule"), fields...)
}

var indexSuffix = regexp.MustCompile(`\[(\d+)\]$`)

// planFieldPointer turns a lease field name ("waterfall[2]") into a JSON
// Pointer ("/waterfall/2").
func planFieldPointer(field string) string {
	return "/" + indexSuffix.ReplaceAllString(field, "/$1")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// pageOf returns one page of a whole list held in memory in its stable
// order. A cursor names the last item of the previous page by key.
func pageOf[T any](items []T, req core.PageRequest, at func(T) time.Time, key func(T) string) (core.Page[T], error) {
	limit, after, err := req.Resolve()
	if err != nil {
		return core.Page[T]{}, err
	}
	start := 0
	if after != nil {
		i := slices.IndexFunc(items, func(it T) bool { return key(it) == after.ID })
		if i < 0 {
			return core.Page[T]{}, core.Errorf(core.EINVALID, "cursor: not a next_cursor of this list")
		}
		start = i + 1
	}
	end := min(start+limit, len(items))
	out := core.Page[T]{Items: items[start:end]}
	if end < len(items) {
		last := items[end-1]
		out.NextCursor = core.Cursor{CreatedAt: at(last), ID: key(last)}.Encode()
	}
	return out, nil
}

// created answers 201 with the new resource's path in Location.
func created(c *gin.Context, location string, body any) {
	c.Header("Location", location)
	c.JSON(http.StatusCreated, body)
}

// listAll serves an unfiltered list: one page of the caller's tenant.
func listAll[T, J any](a *paygAPI, list func(payg.Reader, context.Context, string, core.PageRequest) (core.Page[T], error), render func(T) J) gin.HandlerFunc {
	return func(c *gin.Context) {
		req, ok := pageRequest(c)
		if !ok {
			return
		}
		var p core.Page[T]
		if a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
			p, err = list(r, ctx, tenant, req)
			return err
		}) {
			writeList(c, p, render)
		}
	}
}

// listByContract serves one page of a list that ?contract_id= (an id or
// external_id:…) may narrow to one contract: list is given that
// contract's id, or "" for all of them.
func listByContract[T, J any](a *paygAPI, c *gin.Context, list func(ctx context.Context, r payg.Reader, tenant, contractID string, req core.PageRequest) (core.Page[T], error), render func(T) J) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	var p core.Page[T]
	if a.read(c, func(ctx context.Context, r payg.Reader, tenant string) error {
		contractID := ""
		if ref := c.Query("contract_id"); ref != "" {
			k, err := findContract(ctx, r, tenant, ref)
			if err != nil {
				return err
			}
			contractID = k.ID
		}
		var err error
		p, err = list(ctx, r, tenant, contractID, req)
		return err
	}) {
		writeList(c, p, render)
	}
}

// ---- customers

type customerInput struct {
	ExternalID string `json:"external_id"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Language   string `json:"language"`
}

func (a *paygAPI) createCustomer(c *gin.Context) {
	var in customerInput
	if !bindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	cu, err := a.svc.CreateCustomer(ctx, TenantID(ctx), payg.CustomerInput(in))
	if err != nil {
		// The schema checks the rest: what the service refuses is the phone.
		fail(c, err, "/phone")
		return
	}
	created(c, "/v1/customers/"+cu.ID, renderCustomer(cu))
}

func (a *paygAPI) getCustomer(c *gin.Context) {
	var cu payg.Customer
	if a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		cu, err = findCustomer(ctx, r, tenant, c.Param("id"))
		return err
	}) {
		c.JSON(http.StatusOK, renderCustomer(cu))
	}
}

// ---- devices

type deviceInput struct {
	ExternalID   string           `json:"external_id"`
	Serial       string           `json:"serial"`
	TokenScheme  payg.TokenScheme `json:"token_scheme"`
	SecretKey    string           `json:"secret_key"`
	StartingCode *int64           `json:"starting_code"`
	ValueDivider *int             `json:"value_divider"`
	Restricted   *bool            `json:"restricted_digit_set"`
	Counter      int64            `json:"counter"`
}

func (a *paygAPI) createDevice(c *gin.Context) {
	var in deviceInput
	if !bindJSON(c, &in) {
		return
	}
	d := payg.DeviceInput{
		ExternalID: in.ExternalID, Serial: in.Serial, Scheme: in.TokenScheme, SecretKeyHex: in.SecretKey,
		StartingCode: -1, Counter: in.Counter, // a negative starting code is derived from the key
	}
	if in.TokenScheme == payg.SchemeOpenPAYGO {
		d.ValueDivider = 1
		if in.StartingCode != nil {
			d.StartingCode = *in.StartingCode
		}
		if in.ValueDivider != nil {
			d.ValueDivider = *in.ValueDivider
		}
		if in.Restricted != nil {
			d.Restricted = *in.Restricted
		}
	}
	// The document admits any well-formed vendor name; this gateway has
	// the built-in schemes and its configured token vendors.
	if !a.svc.HasTokenScheme(in.TokenScheme) {
		var names []string
		for _, s := range a.svc.TokenSchemes() {
			names = append(names, string(s))
		}
		detail := fmt.Sprintf("%q is not a token scheme of this gateway; it has %s", in.TokenScheme, strings.Join(names, ", "))
		writeProblem(c, http.StatusUnprocessableEntity, detail, FieldProblem{Pointer: "/token_scheme", Detail: detail})
		return
	}
	// The document lets every scheme's fields through; refuse the ones
	// that mean nothing for this scheme rather than drop them.
	var fields []FieldProblem
	unused := func(name string, set bool, why string) {
		if set {
			fields = append(fields, FieldProblem{Pointer: "/" + name, Detail: why})
		}
	}
	opg := in.TokenScheme == payg.SchemeOpenPAYGO
	unused("restricted_digit_set", !opg && in.Restricted != nil, "only openpaygo devices take it")
	unused("secret_key", in.TokenScheme == payg.SchemeNone && in.SecretKey != "", "a device with token_scheme none has no key")
	vendor := !opg && in.TokenScheme != payg.SchemeNexus && in.TokenScheme != payg.SchemeNone
	unused("secret_key", vendor && in.SecretKey != "", "a token vendor's devices keep their keys at the vendor")
	unused("starting_code", !opg && in.StartingCode != nil, "only openpaygo devices take it")
	unused("value_divider", !opg && in.ValueDivider != nil, "only openpaygo devices take it")
	if len(fields) > 0 {
		writeProblem(c, http.StatusUnprocessableEntity, "fields that a "+string(in.TokenScheme)+" device does not take", fields...)
		return
	}
	ctx := c.Request.Context()
	dev, err := a.svc.CreateDevice(ctx, TenantID(ctx), d)
	if err != nil {
		// The document checks the fields' forms; what is left is whether
		// this gateway can issue the scheme's tokens.
		fail(c, err, "/token_scheme")
		return
	}
	created(c, "/v1/devices/"+dev.ID, renderDevice(dev))
}

func (a *paygAPI) getDevice(c *gin.Context) {
	var d payg.Device
	if a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		d, err = findDevice(ctx, r, tenant, c.Param("id"))
		return err
	}) {
		c.JSON(http.StatusOK, renderDevice(d))
	}
}

// ---- plans

type planInput struct {
	ExternalID string     `json:"external_id"`
	Name       string     `json:"name"`
	Terms      lease.Plan `json:"terms"`
}

func (a *paygAPI) createPlan(c *gin.Context) {
	var in planInput
	if !bindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	p, err := a.svc.CreatePlan(ctx, TenantID(ctx), payg.PlanInput(in))
	if err != nil {
		failPlan(c, err, "/terms")
		return
	}
	created(c, "/v1/plans/"+p.ID, renderPlan(p))
}

func (a *paygAPI) getPlan(c *gin.Context) {
	var p payg.Plan
	if a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		p, err = r.Plan(ctx, tenant, c.Param("id"))
		return err
	}) {
		c.JSON(http.StatusOK, renderPlan(p))
	}
}

// ---- contracts

type contractInput struct {
	ExternalID    string      `json:"external_id"`
	AccountNumber string      `json:"account_number"`
	CustomerID    string      `json:"customer_id"`
	DeviceIDs     []string    `json:"device_ids"`
	PlanID        string      `json:"plan_id"`
	Terms         *lease.Plan `json:"terms"`
}

func (a *paygAPI) createContract(c *gin.Context) {
	var in contractInput
	if !bindJSON(c, &in) {
		return
	}
	if in.PlanID != "" && in.Terms != nil {
		writeProblem(c, http.StatusUnprocessableEntity, "give either plan_id or terms, not both",
			FieldProblem{Pointer: "/terms", Detail: "not allowed with plan_id"})
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	ci := payg.ContractInput{ExternalID: in.ExternalID, AccountNumber: in.AccountNumber, PlanID: in.PlanID}
	if in.Terms != nil {
		ci.Plan = *in.Terms
	}
	// The CRM may name the customer and devices by its own ids.
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) error {
		cu, err := findCustomer(ctx, r, tenant, in.CustomerID)
		if err != nil {
			return err
		}
		ci.CustomerID = cu.ID
		for _, ref := range in.DeviceIDs {
			d, err := findDevice(ctx, r, tenant, ref)
			if err != nil {
				return err
			}
			ci.DeviceIDs = append(ci.DeviceIDs, d.ID)
		}
		return nil
	}) {
		return
	}
	k, err := a.svc.CreateContract(ctx, tenant, ci)
	if err != nil {
		failPlan(c, err, "/terms")
		return
	}
	loc, err := a.location(ctx, tenant)
	if err != nil {
		WriteError(c, err)
		return
	}
	created(c, "/v1/contracts/"+k.ID, renderContract(k, a.clock.Now(), loc))
}

func (a *paygAPI) getContract(c *gin.Context) {
	var k payg.Contract
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		k, err = findContract(ctx, r, tenant, c.Param("id"))
		return err
	}) {
		return
	}
	ctx := c.Request.Context()
	loc, err := a.location(ctx, TenantID(ctx))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, renderContract(k, a.clock.Now(), loc))
}

func (a *paygAPI) listContracts(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	f := payg.ContractFilter{Status: lease.Status(c.Query("status"))}
	if v := c.Query("days_in_arrears_gte"); v != "" {
		n, err := strconv.Atoi(v) // the document has checked it is 0 or more
		if err != nil {
			writeProblem(c, http.StatusUnprocessableEntity, "bad days_in_arrears_gte",
				FieldProblem{Pointer: "days_in_arrears_gte", Detail: "want a whole number of days, 0 or more"})
			return
		}
		f.DaysInArrearsAtLeast = n
	}
	if v := c.Query("updated_since"); v != "" {
		t, ok := queryTime(c, "updated_since", v)
		if !ok {
			return
		}
		f.UpdatedSince = t
	}
	p, err := a.svc.ListContracts(ctx, tenant, f, req)
	if err != nil {
		WriteError(c, err)
		return
	}
	loc, err := a.location(ctx, tenant)
	if err != nil {
		WriteError(c, err)
		return
	}
	now := a.clock.Now()
	writeList(c, p, func(k payg.Contract) contractJSON { return renderContract(k, now, loc) })
}

// queryTime reads an RFC 3339 query parameter.
func queryTime(c *gin.Context, name, v string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		writeProblem(c, http.StatusUnprocessableEntity, "bad "+name,
			FieldProblem{Pointer: name, Detail: "want an RFC 3339 time such as 2026-03-14T09:00:00Z"})
		return time.Time{}, false
	}
	return t, true
}

func (a *paygAPI) contractLedger(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	var k payg.Contract
	var lines []payg.LedgerLine
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		if k, err = findContract(ctx, r, tenant, c.Param("id")); err != nil {
			return err
		}
		lines, err = r.LedgerLines(ctx, tenant, k.ID)
		return err
	}) {
		return
	}
	p, err := pageOf(lines, req, func(l payg.LedgerLine) time.Time { return l.Line.At },
		func(l payg.LedgerLine) string { return strconv.FormatInt(l.Seq, 10) })
	if err != nil {
		fail(c, err, "cursor")
		return
	}
	writeList(c, p, func(l payg.LedgerLine) ledgerLineJSON { return renderLedgerLine(l, k.State.Currency) })
}

func (a *paygAPI) contractTokens(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	var tokens []payg.Token
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) error {
		k, err := findContract(ctx, r, tenant, c.Param("id"))
		if err != nil {
			return err
		}
		tokens, err = r.Tokens(ctx, tenant, k.ID)
		return err
	}) {
		return
	}
	p, err := pageOf(tokens, req, func(t payg.Token) time.Time { return t.CreatedAt }, func(t payg.Token) string { return t.ID })
	if err != nil {
		fail(c, err, "cursor")
		return
	}
	writeList(c, p, renderToken)
}

// ---- payments

type manualPaymentInput struct {
	ContractID string    `json:"contract_id"`
	Amount     moneyJSON `json:"amount"`
	// Reference is the receipt of the cash or bank payment: the payment's
	// deduplication key within the tenant.
	Reference  string     `json:"reference"`
	PayerName  string     `json:"payer_name"`
	OccurredAt *time.Time `json:"occurred_at"`
}

// createPayment records a cash or bank payment taken outside the gateway
// and applies it to a contract, exactly as a provider's payment is
// applied. A reference used before is refused with 409 (and the existing
// payment's path in Location): the same receipt is never applied twice,
// and a second entry of it is an error the caller must see. A retry of
// the same request is safe through its Idempotency-Key instead.
func (a *paygAPI) createPayment(c *gin.Context) {
	var in manualPaymentInput
	if !bindJSON(c, &in) {
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	var k payg.Contract
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		k, err = findContract(ctx, r, tenant, in.ContractID)
		return err
	}) {
		return
	}
	// A payment in another currency is a mistake in this request, not
	// money to keep in suspense: nothing is recorded.
	if in.Amount.Currency != k.State.Currency {
		writeProblem(c, http.StatusUnprocessableEntity, "contract "+k.AccountNumber+" is in "+string(k.State.Currency),
			FieldProblem{Pointer: "/amount/currency", Detail: "want " + string(k.State.Currency) + ", the contract's currency"})
		return
	}
	n := core.PaymentNotice{
		Instance: payg.ManualInstance, ProviderTxID: manualTxID(tenant, in.Reference), Status: core.NoticeSucceeded,
		Amount: core.Money{Amount: in.Amount.Amount, Currency: in.Amount.Currency}, AccountRef: k.AccountNumber,
		PayerName: in.PayerName, OccurredAt: a.clock.Now(), Raw: requestBody(c),
	}
	if in.OccurredAt != nil {
		n.OccurredAt = *in.OccurredAt
	}
	out, err := a.svc.ApplyNotice(ctx, tenant, n)
	if err != nil {
		fail(c, err, "/amount")
		return
	}
	if out.Duplicate {
		c.Header("Location", "/v1/payments/"+out.Payment.ID)
		writeProblem(c, http.StatusConflict, fmt.Sprintf("manual payment %s already has reference %q; a reference is used once", out.Payment.ID, in.Reference))
		return
	}
	loc, err := a.location(ctx, tenant)
	if err != nil {
		WriteError(c, err)
		return
	}
	created(c, "/v1/payments/"+out.Payment.ID, renderOutcome(out, a.clock.Now(), loc))
}

func (a *paygAPI) getPayment(c *gin.Context) {
	var p payg.Payment
	if a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		p, err = r.Payment(ctx, tenant, c.Param("id"))
		return err
	}) {
		c.JSON(http.StatusOK, renderPayment(p))
	}
}

func (a *paygAPI) listPayments(c *gin.Context) {
	q := payg.PaymentQuery{Status: payg.PaymentStatus(c.Query("status"))}
	listByContract(a, c, func(ctx context.Context, r payg.Reader, tenant, contractID string, req core.PageRequest) (core.Page[payg.Payment], error) {
		q.ContractID = contractID
		return r.ListPayments(ctx, tenant, q, req)
	}, renderPayment)
}

type reversalInput struct {
	Reason string `json:"reason"`
}

func (a *paygAPI) reversePayment(c *gin.Context) {
	var in reversalInput
	if !bindJSON(c, &in) {
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	out, err := a.svc.Reverse(ctx, tenant, c.Param("id"), in.Reason)
	if err != nil {
		fail(c, err, "")
		return
	}
	a.writeOutcome(c, out)
}

func (a *paygAPI) writeOutcome(c *gin.Context, out payg.Outcome) {
	ctx := c.Request.Context()
	loc, err := a.location(ctx, TenantID(ctx))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, renderOutcome(out, a.clock.Now(), loc))
}

// ---- suspense

func (a *paygAPI) listSuspense(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	status := payg.SuspenseStatus(c.Query("status"))
	var out []suspenseJSON
	var next string
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) error {
		p, err := r.ListSuspense(ctx, tenant, status, req)
		if err != nil {
			return err
		}
		next = p.NextCursor
		out = make([]suspenseJSON, 0, len(p.Items))
		for _, s := range p.Items {
			pay, err := r.Payment(ctx, tenant, s.PaymentID)
			if err != nil {
				return fmt.Errorf("suspense item %s: %w", s.ID, err)
			}
			out = append(out, renderSuspense(s, pay))
		}
		return nil
	}) {
		return
	}
	writeList(c, core.Page[suspenseJSON]{Items: out, NextCursor: next}, func(s suspenseJSON) suspenseJSON { return s })
}

// suspenseItem reads one item with its payment.
func (a *paygAPI) suspenseItem(c *gin.Context, id string) (suspenseJSON, bool) {
	var out suspenseJSON
	ok := a.read(c, func(ctx context.Context, r payg.Reader, tenant string) error {
		s, err := r.SuspenseItem(ctx, tenant, id)
		if err != nil {
			return err
		}
		p, err := r.Payment(ctx, tenant, s.PaymentID)
		if err != nil {
			return fmt.Errorf("suspense item %s: %w", s.ID, err)
		}
		out = renderSuspense(s, p)
		return nil
	})
	return out, ok
}

func (a *paygAPI) getSuspense(c *gin.Context) {
	if s, ok := a.suspenseItem(c, c.Param("id")); ok {
		c.JSON(http.StatusOK, s)
	}
}

type matchInput struct {
	ContractID string `json:"contract_id"`
}

func (a *paygAPI) matchSuspense(c *gin.Context) {
	var in matchInput
	if !bindJSON(c, &in) {
		return
	}
	var k payg.Contract
	if !a.read(c, func(ctx context.Context, r payg.Reader, tenant string) (err error) {
		k, err = findContract(ctx, r, tenant, in.ContractID)
		return err
	}) {
		return
	}
	ctx := c.Request.Context()
	out, err := a.svc.MatchSuspense(ctx, TenantID(ctx), c.Param("id"), k.ID)
	if err != nil {
		// The lease rules may refuse the payment for this contract
		// (currency, minimum payment): the item stays open.
		fail(c, err, "/contract_id")
		return
	}
	a.writeOutcome(c, out)
}

type refundInput struct {
	Note string `json:"note"`
}

func (a *paygAPI) refundSuspense(c *gin.Context) {
	var in refundInput
	if !bindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	item, err := a.svc.RefundSuspense(ctx, TenantID(ctx), c.Param("id"), in.Note)
	if err != nil {
		fail(c, err, "")
		return
	}
	if s, ok := a.suspenseItem(c, item.ID); ok {
		c.JSON(http.StatusOK, s)
	}
}

// ---- events

func (a *paygAPI) listEvents(c *gin.Context) {
	q := payg.EventQuery{Type: c.Query("type")}
	if v := c.Query("since"); v != "" {
		t, ok := queryTime(c, "since", v)
		if !ok {
			return
		}
		q.Since = t
	}
	listByContract(a, c, func(ctx context.Context, r payg.Reader, tenant, contractID string, req core.PageRequest) (core.Page[payg.Event], error) {
		q.ContractID = contractID
		return r.ListEvents(ctx, tenant, q, req)
	}, renderEvent)
}
