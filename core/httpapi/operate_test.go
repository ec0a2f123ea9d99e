package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/httpapi"
)

type statusEventBody struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Reason string `json:"reason"`
	} `json:"data"`
}

// TestContractStatusByHand: an operator closes a contract through the
// status machine; what it forbids is 409 and changes nothing.
func TestContractStatusByHand(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newPAYGWorld(t, open(t))
		crm := w.crm
		s := w.sell(t, crm, 1)
		other := w.sell(t, crm, 2)
		wantStatus(t, "pay", crm.Post("/v1/payments", map[string]any{"contract_id": s.contract.ID,
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "R-1"}, "pay-1"), http.StatusCreated)
		path := "/v1/contracts/external_id:L-1/status"

		r := crm.Post(path, map[string]any{"status": "written_off", "reason": "gave up"}, "st-1")
		wantStatus(t, "active → written_off", r, http.StatusConflict)
		if p := r.Problem(t); !strings.Contains(p.Detail, "AC100001 is active") || !strings.Contains(p.Detail, "written_off") {
			t.Errorf("409 detail %q should say from what to what", p.Detail)
		}
		wantStatus(t, "pending_deposit → repossessed", crm.Post("/v1/contracts/"+other.contract.ID+"/status",
			map[string]any{"status": "repossessed", "reason": "x"}, "st-2"), http.StatusConflict)

		repossess := map[string]any{"status": "repossessed", "reason": "collected by agent 117"}
		r = crm.Post(path, repossess, "st-3")
		wantStatus(t, "active → repossessed", r, http.StatusOK)
		if k := decode[contractBody](t, r); k.ID != s.contract.ID || k.Status != "repossessed" {
			t.Errorf("contract after repossession %+v", k)
		}
		r = crm.Post(path, repossess, "st-3")
		if r.Status != http.StatusOK || r.Header.Get(httpapi.IdempotentReplayedHeader) != "true" {
			t.Errorf("retry: %d, replayed %q", r.Status, r.Header.Get(httpapi.IdempotentReplayedHeader))
		}
		wantStatus(t, "repossessed again", crm.Post(path, repossess, "st-4"), http.StatusConflict)
		r = crm.Post(path, map[string]any{"status": "written_off", "reason": "device beyond repair"}, "st-5")
		wantStatus(t, "repossessed → written_off", r, http.StatusOK)
		if k := decode[contractBody](t, crm.Get("/v1/contracts/"+s.contract.ID)); k.Status != "written_off" {
			t.Errorf("contract is %s, want written_off", k.Status)
		}

		got := all[statusEventBody](t, crm, "/v1/events?type=contract.status_changed&contract_id="+s.contract.ID, 50)
		if len(got) != 3 || got[1].Data.From != "active" || got[1].Data.To != "repossessed" || got[1].Data.Reason != "collected by agent 117" ||
			got[2].Data.To != "written_off" || got[2].Data.Reason != "device beyond repair" {
			t.Errorf("status events %+v: want activation, repossession, write-off with their reasons", got)
		}
		var statusLines int
		for _, l := range all[ledgerLineBody](t, crm, "/v1/contracts/"+s.contract.ID+"/ledger", 50) {
			if l.Kind == "status" {
				statusLines++
			}
		}
		if statusLines != 3 {
			t.Errorf("%d status lines in the ledger, want 3", statusLines)
		}
		// A closed contract takes no more money: it waits in suspense.
		r = crm.Post("/v1/payments", map[string]any{"contract_id": s.contract.ID,
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "R-2"}, "pay-2")
		wantStatus(t, "pay a written-off contract", r, http.StatusCreated)
		if o := decode[outcomeBody](t, r); o.Suspense == nil || o.Suspense.Reason != "contract_closed" {
			t.Errorf("payment to a written-off contract: %s", r.Body)
		}

		for i, tc := range []struct {
			name    string
			body    map[string]any
			pointer string
		}{
			{"a status set by payments", map[string]any{"status": "active", "reason": "x"}, "/status"},
			{"no reason", map[string]any{"status": "cancelled"}, "/reason"},
			{"blank reason", map[string]any{"status": "cancelled", "reason": "  "}, "/reason"},
			{"unknown field", map[string]any{"status": "cancelled", "reason": "x", "note": "y"}, "/note"},
		} {
			r := crm.Post("/v1/contracts/"+other.contract.ID+"/status", tc.body, fmt.Sprintf("bad-%d", i))
			wantPointers(t, tc.name, r, http.StatusUnprocessableEntity, tc.pointer)
		}
		wantStatus(t, "unknown contract", crm.Post("/v1/contracts/external_id:L-404/status",
			map[string]any{"status": "cancelled", "reason": "x"}, "st-404"), http.StatusNotFound)
		r = crm.Post("/v1/contracts/"+other.contract.ID+"/status", map[string]any{"status": "cancelled", "reason": "sale undone"}, "st-6")
		wantStatus(t, "pending_deposit → cancelled", r, http.StatusOK)
	})
}

// TestTokensByHand: goodwill days, a counter sync and an unlock, each a
// code the device accepts in turn, listed with the contract and
// announced with the operator's reason.
func TestTokensByHand(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newPAYGWorld(t, open(t))
		crm := w.crm
		s := w.sell(t, crm, 1)
		key, err := openpaygo.ParseKey(deviceKeyHex)
		if err != nil {
			t.Fatal(err)
		}
		dev := openpaygo.Device{Key: key, StartingCode: deviceStartingCode, ValueDivider: 1}
		state := openpaygo.InitialState(1) // the device's count when it was sold

		issue := func(name string, body map[string]any, want openpaygo.TokenType, value int) tokenBody {
			t.Helper()
			r := crm.Post("/v1/tokens", body, "tok-"+name)
			wantStatus(t, name, r, http.StatusCreated)
			tok := decode[tokenBody](t, r)
			if tok.DeviceID != s.device.ID || tok.PaymentID != nil || tok.Code == "" {
				t.Errorf("%s: token %+v", name, tok)
			}
			res, err := dev.Decode(tok.Code, state)
			if err != nil || res.Type != want || int64(res.Count) != tok.Count || (want == openpaygo.AddTime && res.Value != value) {
				t.Fatalf("%s: the device reads %s as %+v (%v); want %s %d at count %d", name, tok.Code, res, err, want, value, tok.Count)
			}
			state = state.Apply(res)
			return tok
		}
		days := issue("add_days", map[string]any{"device_id": "external_id:D-1", "kind": "add_days", "days": 2, "reason": "goodwill: panel replaced"},
			openpaygo.AddTime, 2)
		if days.Type != "ADD_TIME" || days.Value != 2 || days.Seconds != 2*86400 {
			t.Errorf("add_days token %+v", days)
		}
		sync := issue("counter_sync", map[string]any{"device_id": s.device.ID, "kind": "counter_sync", "reason": "migrated from the old platform"},
			openpaygo.CounterSync, 0)
		unlock := issue("unlock", map[string]any{"device_id": s.device.ID, "kind": "unlock", "reason": "settled in cash at the shop"},
			openpaygo.DisablePAYG, 0)
		if !(days.Count < sync.Count && sync.Count < unlock.Count) {
			t.Errorf("counts %d, %d, %d: want increasing", days.Count, sync.Count, unlock.Count)
		}
		r := crm.Post("/v1/tokens", map[string]any{"device_id": s.device.ID, "kind": "unlock", "reason": "settled in cash at the shop"}, "tok-unlock")
		if r.Header.Get(httpapi.IdempotentReplayedHeader) != "true" || decode[tokenBody](t, r).ID != unlock.ID {
			t.Errorf("retried unlock is not the first answer: %s", r.Body)
		}
		var d struct {
			Unlocked bool  `json:"unlocked"`
			Counter  int64 `json:"counter"`
		}
		crm.Get("/v1/devices/"+s.device.ID).Decode(t, &d)
		if !d.Unlocked || d.Counter != unlock.Count {
			t.Errorf("device after the unlock %+v", d)
		}
		listed := all[tokenBody](t, crm, "/v1/contracts/external_id:L-1/tokens", 2)
		if len(listed) != 3 || listed[0].ID != days.ID || listed[2].ID != unlock.ID {
			t.Errorf("contract tokens %+v, want the three issued by hand", listed)
		}
		var events []struct {
			ContractID *string `json:"contract_id"`
			Data       struct {
				ID     string `json:"id"`
				Code   string `json:"code"`
				Reason string `json:"reason"`
			} `json:"data"`
		}
		r = crm.Get("/v1/events?type=token.issued")
		var p struct {
			Data json.RawMessage `json:"data"`
		}
		r.Decode(t, &p)
		if err := json.Unmarshal(p.Data, &events); err != nil {
			t.Fatal(err)
		}
		if len(events) != 3 || events[0].Data.ID != days.ID || events[0].Data.Reason != "goodwill: panel replaced" ||
			events[0].ContractID == nil || *events[0].ContractID != s.contract.ID || events[2].Data.Code != unlock.Code {
			t.Errorf("token.issued events %+v", events)
		}

		// Refused requests name the field.
		r = crm.Post("/v1/devices", map[string]any{"serial": "PUMP-1", "token_scheme": "none"}, "pump")
		wantStatus(t, "device without tokens", r, http.StatusCreated)
		pump := decode[idBody](t, r)
		r = crm.Post("/v1/devices", map[string]any{"serial": "NX-1", "token_scheme": "nexus", "secret_key": deviceKeyHex}, "nexus")
		wantStatus(t, "nexus device", r, http.StatusCreated)
		nx := decode[idBody](t, r)
		for i, tc := range []struct {
			name    string
			body    map[string]any
			pointer string
		}{
			{"add_days without days", map[string]any{"device_id": s.device.ID, "kind": "add_days", "reason": "x"}, "/days"},
			{"days with unlock", map[string]any{"device_id": s.device.ID, "kind": "unlock", "days": 1, "reason": "x"}, "/days"},
			{"zero days", map[string]any{"device_id": s.device.ID, "kind": "add_days", "days": 0, "reason": "x"}, "/days"},
			{"more days than a token carries", map[string]any{"device_id": s.device.ID, "kind": "add_days", "days": 996, "reason": "x"}, "/days"},
			{"no reason", map[string]any{"device_id": s.device.ID, "kind": "unlock"}, "/reason"},
			{"unknown kind", map[string]any{"device_id": s.device.ID, "kind": "set_days", "reason": "x"}, "/kind"},
			{"a device without tokens", map[string]any{"device_id": pump.ID, "kind": "unlock", "reason": "x"}, "/device_id"},
			{"counter sync on nexus", map[string]any{"device_id": nx.ID, "kind": "counter_sync", "reason": "x"}, "/kind"},
		} {
			wantPointers(t, tc.name, crm.Post("/v1/tokens", tc.body, fmt.Sprintf("bad-%d", i)), http.StatusUnprocessableEntity, tc.pointer)
		}
		wantStatus(t, "unknown device", crm.Post("/v1/tokens", map[string]any{"device_id": "external_id:D-404", "kind": "unlock", "reason": "x"}, "tok-404"),
			http.StatusNotFound)
	})
}

// TestOperateTenantIsolation: another tenant's contracts and devices are
// not found, by the gateway's id or the CRM's.
func TestOperateTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newPAYGWorld(t, open(t))
		w.addTenant(t, "acme-ke")
		bob := w.client(t, w.key(t, "acme-ke", core.ScopeWrite))
		theirs := w.sell(t, bob, 2)
		for i, wr := range []struct {
			path string
			body map[string]any
		}{
			{"/v1/contracts/" + theirs.contract.ID + "/status", map[string]any{"status": "cancelled", "reason": "x"}},
			{"/v1/contracts/external_id:L-2/status", map[string]any{"status": "cancelled", "reason": "x"}},
			{"/v1/tokens", map[string]any{"device_id": theirs.device.ID, "kind": "unlock", "reason": "x"}},
			{"/v1/tokens", map[string]any{"device_id": "external_id:D-2", "kind": "unlock", "reason": "x"}},
		} {
			r := w.crm.Post(wr.path, wr.body, "alice-"+string(rune('a'+i)))
			wantStatus(t, "alice writes "+wr.path, r, http.StatusNotFound)
			r.Problem(t)
		}
		var d struct {
			Unlocked bool  `json:"unlocked"`
			Counter  int64 `json:"counter"`
		}
		bob.Get("/v1/devices/"+theirs.device.ID).Decode(t, &d)
		if k := decode[contractBody](t, bob.Get("/v1/contracts/"+theirs.contract.ID)); k.Status != "pending_deposit" || d.Unlocked || d.Counter != 1 {
			t.Errorf("bob's contract %s, device %+v: changed by alice", k.Status, d)
		}
	})
}
