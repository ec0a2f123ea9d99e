package resilience

import (
	"context"
	"fmt"
	"slices"
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
	// resent counts the sends beyond the first of a message, each one
	// explained by a kill (see checkSMS).
	resent int
}

func (s smsSends) String() string {
	return fmt.Sprintf("%d payments applied, %d messages stored, %d accepted by the provider in %d requests (%d sent again after a kill)",
		s.payments, s.messages, s.accepted, s.attempts, s.resent)
}

// checkSMS waits until no text message send is pending or running, then
// checks that every applied payment stored one payment confirmation (its
// cause key is the event's id and the template), that every stored
// message was sent, and that the provider received each message once.
//
// Once, except in one window the design leaves open: the sender records a
// send after the provider has answered it, and neither Africa's Talking
// nor Twilio takes an idempotency key on a send, so a gateway killed
// between the provider's acceptance and that record sends the message
// again once the job's lease has passed (at least once rather than at
// most once: the confirmation carries the customer's token). marks[k] is
// the number of messages the provider had accepted when kill k had ended
// the process. A repeat is accepted only when it is that: the copy the
// store does not name (an unrecorded send) was accepted before a kill and
// the recorded copy after it, and no kill explains more repeats than a
// gateway has job workers. Any other repeat, a message sent but never
// stored, or a stored message the provider never got fails the test.
func checkSMS(t *testing.T, w *world, marks []int, within time.Duration) smsSends {
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
		if m.State != messaging.StateSent || m.Instance != smsInstance || m.ProviderID == "" {
			t.Errorf("message %s (%s) is %s through %q with provider id %q; want sent through %s",
				m.ID, m.CauseKey, m.State, m.Instance, m.ProviderID, smsInstance)
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
	perKill := make([]int, len(marks))
	for k, ms := range group {
		cs := copies[k]
		recorded := map[string]bool{}
		for _, m := range ms {
			recorded[m.ProviderID] = true
		}
		var recIndex []int
		for _, c := range cs {
			if recorded[c.id] {
				recIndex = append(recIndex, c.index)
				delete(recorded, c.id)
			}
		}
		for id := range recorded {
			t.Errorf("a message to %s is stored as sent with provider id %s, which the provider never gave", ms[0].To, id)
		}
		for _, c := range cs {
			if slices.Contains(recIndex, c.index) {
				continue
			}
			kill := -1
			for j, mark := range marks {
				if c.index < mark && slices.ContainsFunc(recIndex, func(r int) bool { return r >= mark }) {
					kill = j
					break
				}
			}
			if kill < 0 {
				t.Errorf("message %s (%s) sent again with no kill between the sends: provider ids %v, the store names %s",
					ms[0].ID, ms[0].CauseKey, cs, ms[0].ProviderID)
				continue
			}
			perKill[kill]++
			out.resent++
		}
	}
	for k, cs := range copies {
		if _, ok := group[k]; !ok {
			t.Errorf("the provider got %d messages that no stored message has: %+v", len(cs), cs)
		}
	}
	for k, n := range perKill {
		if n > jobWorkers {
			t.Errorf("kill %d explains %d repeated sends; a gateway has only %d sends in flight", k+1, n, jobWorkers)
		}
	}
	return out
}
