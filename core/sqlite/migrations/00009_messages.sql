-- +goose Up
-- Text messages to customers (core/messaging). cause_key is what caused the
-- message (an event and a template, a contract's due date and reminder
-- offset, a campaign and a contract): unique, so no cause sends twice.
-- (instance, provider_id) is the key of the provider's delivery reports.
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    customer_id     TEXT NOT NULL DEFAULT '',
    contract_id     TEXT NOT NULL DEFAULT '',
    campaign_id     TEXT NOT NULL DEFAULT '',
    cause_key       TEXT NOT NULL UNIQUE,
    template        TEXT NOT NULL DEFAULT '',
    language        TEXT NOT NULL DEFAULT '',
    recipient       TEXT NOT NULL,
    body            TEXT NOT NULL,
    encoding        TEXT NOT NULL CHECK (encoding IN ('gsm7', 'ucs2')),
    segments        INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'delivered', 'failed', 'rejected')),
    instance        TEXT NOT NULL DEFAULT '',
    provider_id     TEXT NOT NULL DEFAULT '',
    provider_status TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    final_at        TEXT
) STRICT;
CREATE INDEX messages_page ON messages (tenant_id, created_at, id);
CREATE INDEX messages_customer ON messages (tenant_id, customer_id, created_at, id);
CREATE INDEX messages_contract ON messages (tenant_id, contract_id, created_at, id);
CREATE INDEX messages_campaign ON messages (campaign_id, created_at, id);
CREATE INDEX messages_provider ON messages (instance, provider_id);
-- Campaigns pass over numbers a provider rejected (blacklisted).
CREATE INDEX messages_recipient ON messages (tenant_id, recipient, state);

-- Bulk campaigns: a template or body sent to the contracts a filter
-- chooses. Its recipients are its messages (messages.campaign_id).
CREATE TABLE campaigns (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL DEFAULT '',
    template     TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL DEFAULT '',
    filter       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done')),
    recipients   INTEGER NOT NULL DEFAULT 0,
    skipped      INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    completed_at TEXT
) STRICT;
CREATE INDEX campaigns_page ON campaigns (tenant_id, created_at, id);

-- +goose Down
DROP TABLE campaigns;
DROP TABLE messages;
