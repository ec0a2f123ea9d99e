package resilience

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/fakesms"
	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// The gateways' SMS instance, when the world has a fake SMS provider.
const (
	smsInstance = "sms-at"
	smsUsername = "gwapp"
	smsAPIKey   = "at-key"
)

// smsAnswerDelay is how long the fake SMS provider takes to answer a send
// it has taken: long enough that kills often land between the two.
const smsAnswerDelay = 100 * time.Millisecond

// withSMS starts a fake SMS provider (Africa's Talking's send API) for
// the gateways w configures after it: each gets an SMS instance sending
// for the tenant, so every applied payment queues its confirmation.
func (w *world) withSMS() {
	w.sms = fakesms.New(fakesms.Options{APIKey: smsAPIKey, Username: smsUsername, AnswerDelay: smsAnswerDelay})
	w.t.Cleanup(w.sms.Close)
}

// smsSends is what the fake SMS provider saw of the messages.
type smsSends struct {
	payments int // payment.applied events
	messages int // messages stored
	accepted int // messages the provider accepted
	attempts int // send requests it received, refused ones included
	// unknown counts the messages left in state unknown (a kill cut their
	// send off between the provider call and its record), taken how many
	// of them the provider had taken.
	unknown, unknownTaken int
}

func (s smsSends) String() string {
	return fmt.Sprintf("%d payments applied, %d messages stored, %d accepted by the provider in %d requests, "+
		"%d left unknown by a kill (%d of them taken by the provider)",
		s.payments, s.messages, s.accepted, s.attempts, s.unknown, s.unknownTaken)
}

// smsKill is one kill as checkSMS needs it: when the process was dead
// (after its SIGKILL returned) and how many messages the provider had
// accepted once the sends the process wrote before dying had arrived.
type smsKill struct {
	at       time.Time
	accepted int
}

// checkSMS waits until no text message send is pending or running, then
// checks that every applied payment stored one payment confirmation (its
// cause key is the event's id and the template), and that the provider
// received no message twice (issue 9: no SMS is sent twice for one
// cause).
//
// The sender marks a send in flight, in its own commit, before calling
// the provider, and clears the mark with the outcome; neither Africa's
// Talking nor Twilio takes an idempotency key on a send, so a send job
// that finds the mark after a kill does not know whether the provider
// took the message, and with the default sms.unknown_outcome (hold)
// leaves it in state unknown instead of sending it again. So every stored
// message is either sent, once, under the provider id the store names, or
// unknown: then its send began (sending_at) while the process that a kill
// ended was running, the provider has at most one copy, accepted before
// that kill, and no kill leaves more unknown messages than a gateway has
// job workers (sends in flight). Any repeat, a message sent but never
// stored, or a sent message the provider never got fails the test.
func checkSMS(t *testing.T, w *world, kills []smsKill, within time.Duration) smsSends {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for {
		n, err := w.countQueue(ctx, messaging.Queue, core.JobPending, core.JobRunning)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d text message sends still pending or running after %v", n, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n, err := w.countQueue(ctx, messaging.Queue, core.JobDead); err != nil || n != 0 {
		t.Errorf("%d dead text message sends (%v)", n, err)
	}

	var out smsSends
	var stored []messaging.Message
	err := pages(func(req core.PageRequest) (string, error) {
		pg, err := w.st.ListMessages(ctx, loadtest.Tenant, messaging.Query{}, req)
		stored = append(stored, pg.Items...)
		return pg.NextCursor, err
	})
	if err != nil {
		t.Fatal(err)
	}
	out.messages = len(stored)
	byCause := map[string]messaging.Message{}
	for _, m := range stored {
		if _, ok := byCause[m.CauseKey]; ok {
			t.Errorf("two messages stored for cause %s", m.CauseKey)
		}
		byCause[m.CauseKey] = m
		switch {
		case m.State == messaging.StateSent && m.Instance == smsInstance && m.ProviderID != "" && m.SendingAt.IsZero():
		case m.State == messaging.StateUnknown && m.Instance == smsInstance && m.ProviderID == "" && !m.SendingAt.IsZero():
		default:
			t.Errorf("message %s (%s) is %s through %q with provider id %q, sending_at %v; want sent through %s, or unknown",
				m.ID, m.CauseKey, m.State, m.Instance, m.ProviderID, m.SendingAt, smsInstance)
		}
	}
	events, err := w.events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range events {
		if e.Type != payg.EventPaymentApplied {
			continue
		}
		out.payments++
		cause := id + ":" + messaging.TemplatePaymentReceived
		if m, ok := byCause[cause]; !ok {
			t.Errorf("payment.applied %s stored no payment confirmation (cause %s)", id, cause)
		} else if m.Template != messaging.TemplatePaymentReceived {
			t.Errorf("message %s for cause %s is a %s", m.ID, cause, m.Template)
		}
	}

	// The provider knows a message by its recipient and text (Africa's
	// Talking is given no reference of ours): group both sides by them.
	accepted := w.sms.Messages()
	out.accepted, out.attempts = len(accepted), w.sms.Attempts()
	type copyAt struct {
		id    string
		index int // in the order the provider accepted them
	}
	copies := map[string][]copyAt{}
	for i, m := range accepted {
		k := m.To + "\x00" + m.Body
		copies[k] = append(copies[k], copyAt{m.ID, i})
	}
	group := map[string][]messaging.Message{}
	for _, m := range stored {
		k := m.To + "\x00" + m.Body
		group[k] = append(group[k], m)
	}
	perKill := make([]int, len(kills))
	for k, ms := range group {
		cs := copies[k]
		if len(ms) != 1 {
			t.Errorf("%d stored messages to %s have the same text: the check cannot tell them apart", len(ms), ms[0].To)
			continue
		}
		m := ms[0]
		if len(cs) > 1 {
			t.Errorf("message %s (%s, %s) was sent %d times: provider ids %v", m.ID, m.CauseKey, m.State, len(cs), cs)
			continue
		}
		if m.State != messaging.StateUnknown {
			if len(cs) != 1 || cs[0].id != m.ProviderID {
				t.Errorf("message %s (%s) is stored as sent with provider id %s; the provider has %v", m.ID, m.CauseKey, m.ProviderID, cs)
			}
			continue
		}
		// Unknown: the kill that ended the process running its send.
		kill := -1
		for j, kl := range kills {
			if m.SendingAt.Before(kl.at) && (j == 0 || m.SendingAt.After(kills[j-1].at)) {
				kill = j
				break
			}
		}
		if kill < 0 {
			t.Errorf("message %s (%s) is unknown, its send begun at %v with no kill after it (kills %v)", m.ID, m.CauseKey, m.SendingAt, kills)
			continue
		}
		perKill[kill]++
		out.unknown++
		if len(cs) == 1 {
			out.unknownTaken++
			if cs[0].index >= kills[kill].accepted {
				t.Errorf("message %s (%s) is unknown, cut off by kill %d, but the provider took it after that kill (copy %d, %d before it)",
					m.ID, m.CauseKey, kill+1, cs[0].index, kills[kill].accepted)
			}
		}
	}
	for k, cs := range copies {
		if _, ok := group[k]; !ok {
			t.Errorf("the provider got %d messages that no stored message has: %+v", len(cs), cs)
		}
	}
	for k, n := range perKill {
		if n > jobWorkers {
			t.Errorf("kill %d left %d messages unknown; a gateway has only %d sends in flight", k+1, n, jobWorkers)
		}
	}
	return out
}
