package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core/messaging"
)

// testMessageSending: MarkSending marks a queued message in flight once
// (a compare-and-set), never a message that moved on; the mark reads back
// equal at microsecond precision, UpdateMessage clears or keeps it, and a
// message may be unknown.
func testMessageSending(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	ms := asMessageStore(t, w.store)
	queued := w.message("evt_s:payment_received", messaging.StateQueued)
	sent := w.message("evt_t:payment_received", messaging.StateSent)
	err := inMsgTx(t, ms, func(tx messaging.Tx) error {
		for _, m := range []messaging.Message{queued, sent} {
			if _, err := tx.InsertMessage(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	at := w.clock.Now().Add(1234567 * time.Nanosecond).Truncate(time.Microsecond)
	if ok, err := ms.MarkSending(ctx, w.tenant, queued.ID, "at-ke", at); err != nil || !ok {
		t.Fatalf("MarkSending a queued message: %v, %v", ok, err)
	}
	got, err := ms.Message(ctx, w.tenant, queued.ID)
	if err != nil || !got.SendingAt.Equal(at) || got.Instance != "at-ke" || got.State != messaging.StateQueued {
		t.Fatalf("marked message: sending_at %v (want %v), instance %q, %s, %v", got.SendingAt, at, got.Instance, got.State, err)
	}
	if ok, err := ms.MarkSending(ctx, w.tenant, queued.ID, "at-ke", at.Add(time.Second)); err != nil || ok {
		t.Errorf("MarkSending a message already in flight: %v, %v; want false", ok, err)
	}
	if ok, err := ms.MarkSending(ctx, w.tenant, sent.ID, "at-ke", at); err != nil || ok {
		t.Errorf("MarkSending a sent message: %v, %v; want false", ok, err)
	}
	if ok, err := ms.MarkSending(ctx, "other-tenant", queued.ID, "at-ke", at); err != nil || ok {
		t.Errorf("MarkSending another tenant's message: %v, %v; want false", ok, err)
	}

	// Unknown keeps the mark; queued again clears it.
	err = inMsgTx(t, ms, func(tx messaging.Tx) error {
		m, err := tx.LockMessage(ctx, w.tenant, queued.ID)
		if err != nil {
			return err
		}
		m.State = messaging.StateUnknown
		return tx.UpdateMessage(ctx, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ms.Message(ctx, w.tenant, queued.ID); err != nil || got.State != messaging.StateUnknown || !got.SendingAt.Equal(at) {
		t.Errorf("unknown message: %s, sending_at %v, %v", got.State, got.SendingAt, err)
	}
	err = inMsgTx(t, ms, func(tx messaging.Tx) error {
		m, err := tx.LockMessage(ctx, w.tenant, queued.ID)
		if err != nil {
			return err
		}
		m.State, m.SendingAt = messaging.StateQueued, time.Time{}
		return tx.UpdateMessage(ctx, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ms.Message(ctx, w.tenant, queued.ID); err != nil || got.State != messaging.StateQueued || !got.SendingAt.IsZero() {
		t.Errorf("queued again: %s, sending_at %v, %v", got.State, got.SendingAt, err)
	}
	if ok, err := ms.MarkSending(ctx, w.tenant, queued.ID, "at-ke", at.Add(time.Second)); err != nil || !ok {
		t.Errorf("MarkSending once the mark was cleared: %v, %v; want true", ok, err)
	}
}
