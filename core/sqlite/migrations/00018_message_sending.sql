-- +goose Up
-- A send in flight (core/messaging): sending_at is set, in its own commit,
-- just before a provider is called for a queued message, and cleared when
-- the outcome is recorded. A send job that finds it still set on a queued
-- message knows an earlier attempt's outcome was never recorded (its
-- gateway died between the call and the record): the provider may have
-- taken the message. Such a message goes to state unknown (or is sent
-- again, sms.unknown_outcome: resend), and POST /v1/messages/{id}/resend
-- queues it again.
-- SQLite cannot change a CHECK constraint: the table is rebuilt (nothing
-- references it).
CREATE TABLE messages_new (
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
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'delivered', 'failed', 'rejected', 'unknown')),
    instance        TEXT NOT NULL DEFAULT '',
    provider_id     TEXT NOT NULL DEFAULT '',
    provider_status TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    final_at        TEXT,
    sending_at      TEXT
) STRICT;
INSERT INTO messages_new (id, tenant_id, customer_id, contract_id, campaign_id, cause_key, template, language,
    recipient, body, encoding, segments, state, instance, provider_id, provider_status, reason, attempts,
    created_at, updated_at, sent_at, final_at)
SELECT id, tenant_id, customer_id, contract_id, campaign_id, cause_key, template, language,
    recipient, body, encoding, segments, state, instance, provider_id, provider_status, reason, attempts,
    created_at, updated_at, sent_at, final_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_page ON messages (tenant_id, created_at, id);
CREATE INDEX messages_customer ON messages (tenant_id, customer_id, created_at, id);
CREATE INDEX messages_contract ON messages (tenant_id, contract_id, created_at, id);
CREATE INDEX messages_campaign ON messages (campaign_id, created_at, id);
CREATE INDEX messages_provider ON messages (instance, provider_id);
CREATE INDEX messages_recipient ON messages (tenant_id, recipient, state);

-- +goose Down
CREATE TABLE messages_old (
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
INSERT INTO messages_old (id, tenant_id, customer_id, contract_id, campaign_id, cause_key, template, language,
    recipient, body, encoding, segments, state, instance, provider_id, provider_status, reason, attempts,
    created_at, updated_at, sent_at, final_at)
SELECT id, tenant_id, customer_id, contract_id, campaign_id, cause_key, template, language,
    recipient, body, encoding, segments, CASE state WHEN 'unknown' THEN 'failed' ELSE state END, instance,
    provider_id, provider_status, reason, attempts, created_at, updated_at, sent_at, final_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_old RENAME TO messages;
CREATE INDEX messages_page ON messages (tenant_id, created_at, id);
CREATE INDEX messages_customer ON messages (tenant_id, customer_id, created_at, id);
CREATE INDEX messages_contract ON messages (tenant_id, contract_id, created_at, id);
CREATE INDEX messages_campaign ON messages (campaign_id, created_at, id);
CREATE INDEX messages_provider ON messages (instance, provider_id);
CREATE INDEX messages_recipient ON messages (tenant_id, recipient, state);
