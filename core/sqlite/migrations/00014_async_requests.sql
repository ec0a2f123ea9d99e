-- +goose Up
-- Asynchronous requests the gateway makes to a provider whose answer
-- arrives later by callback (M-Pesa Transaction Status, Reversal): what
-- was asked (ref_*: the payment it is about, so it can be sent again), the
-- ids the provider gave it (request_ref: M-Pesa OriginatorConversationID,
-- provider_ref: ConversationID), where it stands and the provider's last
-- result. A timed-out request is sent again by a durable job, up to
-- max_attempts times; attempts counts the sends the provider accepted.
CREATE TABLE async_requests (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    instance            TEXT NOT NULL,
    operation           TEXT NOT NULL,
    ref_request_id      TEXT NOT NULL DEFAULT '',
    ref_provider_ref    TEXT NOT NULL DEFAULT '',
    ref_provider_tx_id  TEXT NOT NULL DEFAULT '',
    request_ref         TEXT NOT NULL DEFAULT '',
    provider_ref        TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL CHECK (state IN ('created', 'pending', 'succeeded', 'failed', 'timed_out', 'gave_up')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL,
    result_code         TEXT NOT NULL DEFAULT '',
    result_description  TEXT NOT NULL DEFAULT '',
    payment_request_id  TEXT NOT NULL DEFAULT '',
    quarantine_id       TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    sent_at             TEXT,
    next_attempt_at     TEXT,
    finished_at         TEXT
) STRICT;
CREATE INDEX async_requests_request_ref ON async_requests (instance, request_ref) WHERE request_ref <> '';
CREATE INDEX async_requests_provider_ref ON async_requests (instance, provider_ref) WHERE provider_ref <> '';
CREATE INDEX async_requests_page ON async_requests (tenant_id, created_at, id);

-- +goose Down
DROP TABLE async_requests;
