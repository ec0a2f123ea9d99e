-- +goose Up
-- Payments the gateway asks a customer to approve (M-Pesa STK push, MTN
-- request-to-pay), from creation to a payment or a failure reason.
-- reference_id is generated and stored before the provider is called, so a
-- retried initiation cannot create a second request; request_id is the id
-- the provider's callbacks carry (MTN externalId, M-Pesa CheckoutRequestID).
CREATE TABLE payment_requests (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    instance      TEXT NOT NULL,
    contract_id   TEXT NOT NULL REFERENCES contracts(id),
    amount        INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    msisdn        TEXT NOT NULL,
    account_ref   TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    reference_id  TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    provider_ref  TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL CHECK (status IN ('created', 'initiated', 'unknown', 'succeeded', 'failed')),
    reason        TEXT NOT NULL DEFAULT '',
    payment_id    TEXT NOT NULL DEFAULT '',
    initiations   INTEGER NOT NULL DEFAULT 0,
    checks        INTEGER NOT NULL DEFAULT 0,
    expires_at    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    initiated_at  TEXT,
    finished_at   TEXT
) STRICT;
CREATE UNIQUE INDEX payment_requests_request_id ON payment_requests (instance, request_id);
CREATE UNIQUE INDEX payment_requests_reference_id ON payment_requests (instance, reference_id);
CREATE INDEX payment_requests_page ON payment_requests (tenant_id, created_at, id);
CREATE INDEX payment_requests_contract ON payment_requests (tenant_id, contract_id, created_at, id);
-- A callback quarantined because its request id was not known yet (an STK
-- callback faster than the initiation's answer) is replayed once it is.
CREATE INDEX quarantine_request ON quarantine (instance, request_id) WHERE request_id <> '';

-- +goose Down
DROP INDEX quarantine_request;
DROP TABLE payment_requests;
