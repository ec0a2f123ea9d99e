-- +goose Up
-- A send in flight (core/messaging): sending_at is set, in its own commit,
-- just before a provider is called for a queued message, and cleared when
-- the outcome is recorded. A send job that finds it still set on a queued
-- message knows an earlier attempt's outcome was never recorded (its
-- gateway died between the call and the record): the provider may have
-- taken the message. Such a message goes to state unknown (or is sent
-- again, sms.unknown_outcome: resend), and POST /v1/messages/{id}/resend
-- queues it again.
ALTER TABLE messages ADD COLUMN sending_at TIMESTAMPTZ;
ALTER TABLE messages DROP CONSTRAINT messages_state_check;
ALTER TABLE messages ADD CONSTRAINT messages_state_check
    CHECK (state IN ('queued', 'sent', 'delivered', 'failed', 'rejected', 'unknown'));

-- +goose Down
UPDATE messages SET state = 'failed' WHERE state = 'unknown';
ALTER TABLE messages DROP CONSTRAINT messages_state_check;
ALTER TABLE messages ADD CONSTRAINT messages_state_check
    CHECK (state IN ('queued', 'sent', 'delivered', 'failed', 'rejected'));
ALTER TABLE messages DROP COLUMN sending_at;
