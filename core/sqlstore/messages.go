package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/messaging"
)

var (
	_ messaging.Store = (*Store)(nil)
	_ messaging.Tx    = (*txn)(nil)
)

const messageCols = `id, tenant_id, customer_id, contract_id, campaign_id, cause_key, template, language, recipient, body,
	encoding, segments, state, instance, provider_id, provider_status, reason, attempts, created_at, updated_at, sent_at, final_at, sending_at`

func scanMessage(r scanner) (messaging.Message, error) {
	var m messaging.Message
	err := r.Scan(&m.ID, &m.TenantID, &m.CustomerID, &m.ContractID, &m.CampaignID, &m.CauseKey, &m.Template, &m.Language,
		&m.To, &m.Body, &m.Encoding, &m.Segments, &m.State, &m.Instance, &m.ProviderID, &m.ProviderStatus, &m.Reason,
		&m.Attempts, scanTime{&m.CreatedAt}, scanTime{&m.UpdatedAt}, scanTime{&m.SentAt}, scanTime{&m.FinalAt},
		scanTime{&m.SendingAt})
	return m, err
}

// InsertMessage implements messaging.Tx.
func (t *txn) InsertMessage(ctx context.Context, m messaging.Message) (bool, error) {
	if m.CauseKey == "" {
		return false, core.Errorf(core.EINVALID, "message: no cause key")
	}
	res, err := t.exec(ctx, `INSERT INTO messages (`+messageCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (cause_key) DO NOTHING`,
		m.ID, m.TenantID, m.CustomerID, m.ContractID, m.CampaignID, m.CauseKey, m.Template, m.Language, m.To, m.Body,
		string(m.Encoding), m.Segments, string(m.State), m.Instance, m.ProviderID, m.ProviderStatus, m.Reason, m.Attempts,
		t.d.Time(m.CreatedAt), t.d.Time(m.UpdatedAt), t.nullTime(m.SentAt), t.nullTime(m.FinalAt), t.nullTime(m.SendingAt))
	if err != nil {
		return false, fmt.Errorf("insert message %s: %w", m.CauseKey, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, t.d.Translate(err)
	}
	return n == 1, nil
}

// LockMessage implements messaging.Tx.
func (t *txn) LockMessage(ctx context.Context, tenant, id string) (messaging.Message, error) {
	m, err := scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE tenant_id = ? AND id = ?`+t.d.ForUpdate, tenant, id))
	return m, t.one(err, "message", id)
}

// LockMessageByProvider implements messaging.Tx.
func (t *txn) LockMessageByProvider(ctx context.Context, instance, providerID string) (messaging.Message, error) {
	if providerID == "" {
		return messaging.Message{}, notFound("message with provider id", "")
	}
	m, err := scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE instance = ? AND provider_id = ?
		ORDER BY created_at, id LIMIT 1`+t.d.ForUpdate, instance, providerID))
	return m, t.one(err, "message with provider id", instance+"/"+providerID)
}

// UpdateMessage implements messaging.Tx.
func (t *txn) UpdateMessage(ctx context.Context, m messaging.Message) error {
	res, err := t.exec(ctx, `UPDATE messages SET state = ?, instance = ?, provider_id = ?, provider_status = ?, reason = ?,
		attempts = ?, updated_at = ?, sent_at = ?, final_at = ?, sending_at = ? WHERE tenant_id = ? AND id = ?`,
		string(m.State), m.Instance, m.ProviderID, m.ProviderStatus, m.Reason, m.Attempts, t.d.Time(m.UpdatedAt),
		t.nullTime(m.SentAt), t.nullTime(m.FinalAt), t.nullTime(m.SendingAt), m.TenantID, m.ID)
	return t.affected(res, err, "message", m.ID)
}

// MarkSending implements messaging.Store: one UPDATE in its own
// transaction, only while the message is queued with no send in flight.
func (s *Store) MarkSending(ctx context.Context, tenant, id, instance string, at time.Time) (bool, error) {
	var marked bool
	err := s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `UPDATE messages SET sending_at = ?, instance = ?
			WHERE tenant_id = ? AND id = ? AND state = ? AND sending_at IS NULL`,
			t.d.Time(at), instance, tenant, id, string(messaging.StateQueued))
		if err != nil {
			return fmt.Errorf("mark message %s sending: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return t.d.Translate(err)
		}
		marked = n == 1
		return nil
	})
	return marked, err
}

// Rejected implements messaging.Tx.
func (t *txn) Rejected(ctx context.Context, tenant, to string) (bool, error) {
	var n int
	err := t.queryRow(ctx, `SELECT COUNT(*) FROM messages WHERE tenant_id = ? AND recipient = ? AND state = ?`,
		tenant, to, string(messaging.StateRejected)).Scan(&n)
	return n > 0, t.d.Translate(err)
}

// Message implements messaging.Store.
func (s *Store) Message(ctx context.Context, tenant, id string) (messaging.Message, error) {
	var m messaging.Message
	err := s.read1(ctx, func(t *txn) error {
		var err error
		m, err = scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE tenant_id = ? AND id = ?`, tenant, id))
		return t.one(err, "message", id)
	})
	return m, err
}

// ListMessages implements messaging.Store.
func (s *Store) ListMessages(ctx context.Context, tenant string, f messaging.Query, req core.PageRequest) (core.Page[messaging.Message], error) {
	var out core.Page[messaging.Message]
	err := s.read1(ctx, func(t *txn) error {
		q := tenantQuery(tenant)
		if f.CustomerID != "" {
			q.and("customer_id = ?", f.CustomerID)
		}
		if f.ContractID != "" {
			q.and("contract_id = ?", f.ContractID)
		}
		if f.CampaignID != "" {
			q.and("campaign_id = ?", f.CampaignID)
		}
		if f.State != "" {
			q.and("state = ?", string(f.State))
		}
		var err error
		out, err = page(ctx, t, messageCols, "messages", "created_at", q, req, scanMessage,
			func(m messaging.Message) core.Cursor { return core.Cursor{CreatedAt: m.CreatedAt, ID: m.ID} })
		return err
	})
	return out, err
}

const campaignCols = `id, tenant_id, name, template, body, filter, state, recipients, skipped, created_at, updated_at, completed_at`

func scanCampaign(r scanner) (messaging.Campaign, error) {
	var c messaging.Campaign
	var filter []byte
	if err := r.Scan(&c.ID, &c.TenantID, &c.Name, &c.Template, &c.Body, scanBytes{&filter}, &c.State, &c.Recipients,
		&c.Skipped, scanTime{&c.CreatedAt}, scanTime{&c.UpdatedAt}, scanTime{&c.CompletedAt}); err != nil {
		return c, err
	}
	if err := json.Unmarshal(filter, &c.Filter); err != nil {
		return c, fmt.Errorf("campaign %s filter: %w", c.ID, err)
	}
	return c, nil
}

// InsertCampaign implements messaging.Tx.
func (t *txn) InsertCampaign(ctx context.Context, c messaging.Campaign) error {
	filter, err := json.Marshal(c.Filter)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO campaigns (`+campaignCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.ID, c.TenantID, c.Name, c.Template, c.Body, string(filter), string(c.State), c.Recipients, c.Skipped,
		t.d.Time(c.CreatedAt), t.d.Time(c.UpdatedAt), t.nullTime(c.CompletedAt))
	return err
}

// LockCampaign implements messaging.Tx.
func (t *txn) LockCampaign(ctx context.Context, tenant, id string) (messaging.Campaign, error) {
	c, err := scanCampaign(t.queryRow(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE tenant_id = ? AND id = ?`+t.d.ForUpdate, tenant, id))
	return c, t.one(err, "campaign", id)
}

// UpdateCampaign implements messaging.Tx.
func (t *txn) UpdateCampaign(ctx context.Context, c messaging.Campaign) error {
	res, err := t.exec(ctx, `UPDATE campaigns SET state = ?, recipients = ?, skipped = ?, updated_at = ?, completed_at = ?
		WHERE tenant_id = ? AND id = ?`,
		string(c.State), c.Recipients, c.Skipped, t.d.Time(c.UpdatedAt), t.nullTime(c.CompletedAt), c.TenantID, c.ID)
	return t.affected(res, err, "campaign", c.ID)
}

// Campaign implements messaging.Store.
func (s *Store) Campaign(ctx context.Context, tenant, id string) (messaging.Campaign, error) {
	var c messaging.Campaign
	err := s.read1(ctx, func(t *txn) error {
		var err error
		c, err = scanCampaign(t.queryRow(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE tenant_id = ? AND id = ?`, tenant, id))
		return t.one(err, "campaign", id)
	})
	return c, err
}

// CampaignCounts implements messaging.Store.
func (s *Store) CampaignCounts(ctx context.Context, tenant, id string) (map[messaging.State]int, error) {
	out := map[messaging.State]int{}
	err := s.read1(ctx, func(t *txn) error {
		rows, err := t.query(ctx, `SELECT state, COUNT(*) FROM messages WHERE tenant_id = ? AND campaign_id = ? GROUP BY state`, tenant, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				return t.d.Translate(err)
			}
			out[messaging.State(st)] = n
		}
		return t.d.Translate(rows.Err())
	})
	return out, err
}
