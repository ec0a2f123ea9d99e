-- +goose Up
-- A campaign's progress (CampaignCounts) counts its messages by state from
-- this index alone, instead of reading every message of the campaign
-- (0.3 s per call at 10,000 messages, for every CRM poll).
CREATE INDEX messages_campaign_state ON messages (campaign_id, state, tenant_id);

-- +goose Down
DROP INDEX messages_campaign_state;
