-- +goose Up
-- The lease and token engine (core/payg). Every business row carries its
-- tenant. Ledger lines and events are append-only.
CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    external_id TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    phone       TEXT NOT NULL,
    phone_hash  TEXT NOT NULL,
    language    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX customers_external_id ON customers (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX customers_phone_hash ON customers (tenant_id, phone_hash);
CREATE INDEX customers_page ON customers (tenant_id, created_at, id);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    external_id   TEXT NOT NULL DEFAULT '',
    serial        TEXT NOT NULL,
    scheme        TEXT NOT NULL,
    sealed_key    BYTEA,
    starting_code BIGINT NOT NULL DEFAULT 0,
    value_divider BIGINT NOT NULL DEFAULT 0,
    restricted    BOOLEAN NOT NULL DEFAULT false,
    counter       BIGINT NOT NULL DEFAULT 0,
    token_carry   BIGINT NOT NULL DEFAULT 0,
    unlocked      BOOLEAN NOT NULL DEFAULT false,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX devices_serial ON devices (tenant_id, serial);
CREATE UNIQUE INDEX devices_external_id ON devices (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX devices_page ON devices (tenant_id, created_at, id);

CREATE TABLE plans (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    external_id TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    plan        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX plans_external_id ON plans (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX plans_page ON plans (tenant_id, created_at, id);

CREATE TABLE contracts (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    external_id    TEXT NOT NULL DEFAULT '',
    account_number TEXT NOT NULL,
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    plan_id        TEXT REFERENCES plans(id),
    plan           JSONB NOT NULL,
    state          JSONB NOT NULL,
    status         TEXT NOT NULL,
    announced_status TEXT NOT NULL DEFAULT '',
    paid_through   TIMESTAMPTZ,
    currency       TEXT NOT NULL,
    version        BIGINT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX contracts_account ON contracts (tenant_id, account_number);
CREATE UNIQUE INDEX contracts_external_id ON contracts (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX contracts_customer ON contracts (customer_id);
CREATE INDEX contracts_arrears ON contracts (tenant_id, status, paid_through);
CREATE INDEX contracts_page ON contracts (tenant_id, created_at, id);
CREATE INDEX contracts_updated ON contracts (tenant_id, updated_at, id);

CREATE TABLE contract_devices (
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    device_id   TEXT NOT NULL REFERENCES devices(id),
    PRIMARY KEY (contract_id, device_id)
);
CREATE INDEX contract_devices_device ON contract_devices (device_id);

CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    instance          TEXT NOT NULL,
    provider_tx_id    TEXT NOT NULL,
    request_id        TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    amount            BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    account_ref       TEXT NOT NULL DEFAULT '',
    payer_msisdn      TEXT NOT NULL DEFAULT '',
    payer_msisdn_hash TEXT NOT NULL DEFAULT '',
    payer_name        TEXT NOT NULL DEFAULT '',
    contract_id       TEXT REFERENCES contracts(id),
    occurred_at       TIMESTAMPTZ,
    received_at       TIMESTAMPTZ NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    raw               BYTEA
);
CREATE UNIQUE INDEX payments_dedupe ON payments (instance, provider_tx_id);
CREATE INDEX payments_contract ON payments (contract_id);
CREATE INDEX payments_page ON payments (tenant_id, received_at, id);

CREATE TABLE ledger_lines (
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    seq         BIGINT NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    payment_id  TEXT REFERENCES payments(id),
    kind        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    line        JSONB NOT NULL,
    PRIMARY KEY (contract_id, seq)
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    device_id   TEXT NOT NULL REFERENCES devices(id),
    contract_id TEXT REFERENCES contracts(id),
    payment_id  TEXT REFERENCES payments(id),
    scheme      TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       BIGINT NOT NULL,
    seconds     BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    code        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
-- A device's counter is never reused, whatever the concurrency.
CREATE UNIQUE INDEX tokens_device_count ON tokens (device_id, count);
CREATE INDEX tokens_contract ON tokens (contract_id);

CREATE TABLE suspense_items (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    payment_id  TEXT NOT NULL UNIQUE REFERENCES payments(id),
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    status      TEXT NOT NULL,
    contract_id TEXT REFERENCES contracts(id),
    created_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);
CREATE INDEX suspense_items_page ON suspense_items (tenant_id, created_at, id);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    type        TEXT NOT NULL,
    contract_id TEXT REFERENCES contracts(id),
    seq         BIGINT NOT NULL,
    data        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX events_contract_seq ON events (contract_id, seq) WHERE contract_id IS NOT NULL;
CREATE INDEX events_page ON events (tenant_id, created_at, id);

-- +goose Down
DROP TABLE events;
DROP TABLE suspense_items;
DROP TABLE tokens;
DROP TABLE ledger_lines;
DROP TABLE payments;
DROP TABLE contract_devices;
DROP TABLE contracts;
DROP TABLE plans;
DROP TABLE devices;
DROP TABLE customers;
