package messaging

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
)

// CampaignQueue is the job queue that chooses a campaign's recipients.
const CampaignQueue = "sms.campaign"

// CampaignVars are the variables a campaign's own body may use.
var CampaignVars = []Var{
	{Name: "name"}, {Name: "account"}, {Name: "amount"}, {Name: "days_late"},
	{Name: "due_date", Guard: "due_date"}, {Name: "balance", Guard: "balance"},
}

// campaignStatuses are the statuses a campaign filter may name.
var campaignStatuses = []string{"pending_deposit", "active", "late", "defaulted", "paid_off", "cancelled", "repossessed", "written_off"}

// CampaignInput is a new campaign: a template (reminder or overdue) or a
// body of its own, and the filter that chooses its contracts.
type CampaignInput struct {
	Name     string
	Template string
	Body     string
	Filter   CampaignFilter
}

// CampaignProgress is a campaign with its messages counted by state.
type CampaignProgress struct {
	Campaign
	Counts map[State]int
}

// Done reports whether every message of the campaign has left the queue.
func (p CampaignProgress) Done() bool {
	return p.State != CampaignPending && p.Counts[StateQueued] == 0
}

// CreateCampaign checks and stores a campaign, with the job that chooses
// its recipients; the campaign's messages then go through the send queue
// and its instances' rate limits like any other.
func (s *Service) CreateCampaign(ctx context.Context, tenant string, in CampaignInput) (Campaign, error) {
	if !s.o.Settings(tenant).Enabled {
		return Campaign{}, core.Errorf(core.EUNAVAILABLE, "no SMS instance sends for this tenant")
	}
	switch {
	case (in.Template == "") == (in.Body == ""):
		return Campaign{}, core.Errorf(core.EINVALID, "campaign: give a template or a body, not both")
	case in.Template != "" && in.Template != TemplateReminder && in.Template != TemplateOverdue:
		return Campaign{}, core.Errorf(core.EINVALID, "campaign template %q: want reminder or overdue (or a body)", in.Template)
	case in.Body != "":
		t, err := Parse(in.Body)
		if err == nil {
			err = t.Check(CampaignVars)
		}
		if err != nil {
			return Campaign{}, core.Errorf(core.EINVALID, "campaign body: %v", err)
		}
	}
	for _, st := range in.Filter.Statuses {
		if !slices.Contains(campaignStatuses, st) {
			return Campaign{}, core.Errorf(core.EINVALID, "campaign filter status %q: want one of %s", st, strings.Join(campaignStatuses, ", "))
		}
	}
	now := s.o.Clock.Now()
	c := Campaign{ID: newID("cmp_"), TenantID: tenant, Name: in.Name, Template: in.Template, Body: in.Body,
		Filter: in.Filter, State: CampaignPending, CreatedAt: now, UpdatedAt: now}
	payload, err := json.Marshal(campaignPayload{CampaignID: c.ID})
	if err != nil {
		return Campaign{}, err
	}
	err = s.o.Store.InTx(ctx, func(ptx payg.Tx) error {
		tx, ok := ptx.(Tx)
		if !ok {
			return fmt.Errorf("messaging: %T does not store messages", ptx)
		}
		if err := tx.InsertCampaign(ctx, c); err != nil {
			return err
		}
		return tx.EnqueueJob(ctx, core.Job{TenantID: tenant, Queue: CampaignQueue, Key: "campaign:" + c.ID, Payload: payload})
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("messaging: create campaign: %w", err)
	}
	return c, nil
}

// Progress returns a campaign with its messages counted by state.
func (s *Service) Progress(ctx context.Context, tenant, id string) (CampaignProgress, error) {
	c, err := s.o.Store.Campaign(ctx, tenant, id)
	if err != nil {
		return CampaignProgress{}, err
	}
	counts, err := s.o.Store.CampaignCounts(ctx, tenant, id)
	if err != nil {
		return CampaignProgress{}, err
	}
	p := CampaignProgress{Campaign: c, Counts: counts}
	if p.Done() {
		p.State = CampaignDone
	}
	return p, nil
}

type campaignPayload struct {
	CampaignID string `json:"campaign_id"`
}

// CampaignHandler is the jobs.Handler of CampaignQueue: it chooses a
// campaign's recipients and queues their messages.
func (s *Service) CampaignHandler() jobs.Handler {
	return jobs.HandlerFunc(func(ctx context.Context, j core.Job) error {
		var p campaignPayload
		if err := json.Unmarshal(j.Payload, &p); err != nil || p.CampaignID == "" {
			return jobs.Permanent(fmt.Errorf("campaign job %s: bad payload", j.ID))
		}
		return s.runCampaign(ctx, j.TenantID, p.CampaignID)
	})
}

// runCampaign queues the message of every contract the campaign's filter
// chooses, a page per transaction. Run again (its worker died), it queues
// only what is missing: each message's cause key is the campaign and the
// contract.
func (s *Service) runCampaign(ctx context.Context, tenant, id string) error {
	c, err := s.o.Store.Campaign(ctx, tenant, id)
	if err != nil {
		if core.ErrorCode(err) == core.ENOTFOUND {
			return jobs.Permanent(err)
		}
		return err
	}
	if c.State != CampaignPending {
		return nil
	}
	t, err := s.o.Tenants.Tenant(ctx, tenant)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return jobs.Permanent(fmt.Errorf("tenant %s time zone: %w", tenant, err))
	}
	var body *Template
	if c.Body != "" {
		if body, err = Parse(c.Body); err != nil {
			return jobs.Permanent(fmt.Errorf("campaign %s body: %w", id, err))
		}
	}
	set := s.o.Settings(tenant)
	q := payg.ContractQuery{}
	for _, st := range c.Filter.Statuses {
		stored := lease.Status(st)
		if stored == lease.StatusLate || stored == lease.StatusDefaulted {
			stored = lease.StatusActive // derived from the credit expiry
		}
		if !slices.Contains(q.Statuses, stored) {
			q.Statuses = append(q.Statuses, stored)
		}
	}
	chosen := 0
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		var page core.Page[payg.Contract]
		if err := s.o.Store.View(ctx, func(r payg.Reader) error {
			var err error
			page, err = r.ListContracts(ctx, tenant, q, req)
			return err
		}); err != nil {
			return err
		}
		now := s.o.Clock.Now()
		var picked []payg.Contract
		for _, k := range page.Items {
			if c.Filter.matches(k, now, loc) {
				picked = append(picked, k)
			}
		}
		chosen += len(picked)
		if len(picked) > 0 {
			runAt := set.QuietHours.Defer(now, loc)
			if err := s.queueCampaignPage(ctx, t, loc, c, body, picked, now, runAt); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	counts, err := s.o.Store.CampaignCounts(ctx, tenant, id)
	if err != nil {
		return err
	}
	recipients := 0
	for _, n := range counts {
		recipients += n
	}
	return s.o.Store.InTx(ctx, func(ptx payg.Tx) error {
		tx := ptx.(Tx)
		cur, err := tx.LockCampaign(ctx, tenant, id)
		if err != nil {
			return err
		}
		now := s.o.Clock.Now()
		cur.State, cur.Recipients, cur.Skipped = CampaignRunning, recipients, max(chosen-recipients, 0)
		cur.UpdatedAt, cur.CompletedAt = now, now
		return tx.UpdateCampaign(ctx, cur)
	})
}

func (s *Service) queueCampaignPage(ctx context.Context, t core.Tenant, loc *time.Location, c Campaign, body *Template,
	contracts []payg.Contract, now, runAt time.Time) error {
	return s.o.Store.InTx(ctx, func(tx payg.Tx) error {
		mtx, ok := tx.(Tx)
		if !ok {
			return fmt.Errorf("messaging: %T does not store messages", tx)
		}
		for _, k := range contracts {
			cu, err := tx.Customer(ctx, t.ID, k.CustomerID)
			if err != nil {
				return err
			}
			// Bulk messages pass over a number a provider rejected
			// (blacklisted, invalid): it is counted as skipped.
			if rejected, err := mtx.Rejected(ctx, t.ID, cu.Phone); err != nil || rejected {
				if err != nil {
					return err
				}
				continue
			}
			v := campaignValues(k, cu, loc, now)
			d := draft{tenant: t, customerID: cu.ID, contractID: k.ID, campaignID: c.ID, template: c.Template,
				language: cu.Language, phone: cu.Phone, values: v, cause: "campaign:" + c.ID + ":" + k.ID, runAt: runAt}
			if body != nil {
				d.template, d.body = "", body.Render(v)
			}
			if _, err := s.queue(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	})
}

func campaignValues(k payg.Contract, cu payg.Customer, loc *time.Location, now time.Time) map[string]string {
	v := map[string]string{"name": firstName(cu.Name), "account": k.AccountNumber,
		"amount":    FormatMoney(core.Money{Amount: periodAmount(k.Plan), Currency: k.State.Currency}, cu.Language),
		"days_late": strconv.Itoa(lease.DaysInArrears(k.Plan, k.State, now, loc)),
		"days":      strconv.Itoa(DaysLeft(now, k.State.PaidThrough()))}
	if due := dueDate(k, loc); !due.IsZero() {
		v["due_date"] = due.Format("02/01/2006")
	}
	if k.Plan.TotalPrice > 0 {
		v["balance"] = FormatMoney(core.Money{Amount: k.State.Outstanding, Currency: k.State.Currency}, cu.Language)
	}
	return v
}

// matches reports whether the filter chooses contract k at now.
func (f CampaignFilter) matches(k payg.Contract, now time.Time, loc *time.Location) bool {
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, string(lease.StatusAt(k.Plan, k.State, now, loc))) {
		return false
	}
	if len(f.PlanIDs) > 0 && !slices.Contains(f.PlanIDs, k.PlanID) {
		return false
	}
	d := lease.DaysInArrears(k.Plan, k.State, now, loc)
	if d < f.MinDaysInArrears || (f.MaxDaysInArrears != nil && d > *f.MaxDaysInArrears) {
		return false
	}
	return true
}
