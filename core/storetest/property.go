package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// testLedgerProperty runs random sequences of payments, duplicate
// deliveries, reversals and unknown references against a few contracts and
// checks after each step that, for every contract, the ledger's cash is
// payments applied minus reversals, the stored balances are the fold of
// the stored ledger, and no notice was applied twice.
func testLedgerProperty(t *testing.T, h Harness) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, h)
			r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
			contracts := []payg.Contract{w.contract}
			for i := range 2 {
				d, err := w.svc.CreateDevice(ctx, w.tenant, payg.DeviceInput{
					Serial: fmt.Sprintf("PROP-%d", i), Scheme: payg.SchemeOpenPAYGO, SecretKeyHex: testKeyHex,
					StartingCode: -1, ValueDivider: 1 + i, Counter: 1,
				})
				if err != nil {
					t.Fatal(err)
				}
				contracts = append(contracts, w.newContract(t, fmt.Sprintf("AC9%05d", i), d.ID, int64(r.IntN(4))*50000))
			}
			net := map[string]int64{}            // contract id → applied minus reversed
			applied := map[string]payg.Payment{} // tx id → payment, for duplicates and reversals
			var txIDs []string
			var reversed, duplicates, suspended int
			for step := range 60 {
				w.clock.Advance(time.Duration(r.IntN(48)) * time.Hour)
				switch op := r.IntN(10); {
				case op < 5 || len(txIDs) == 0: // a new payment
					c := contracts[r.IntN(len(contracts))]
					txID := fmt.Sprintf("PROP%d-%03d", seed, step)
					amount := int64(1+r.IntN(40)) * 500
					ref := c.AccountNumber
					if r.IntN(8) == 0 {
						ref = "UNKNOWN-" + txID
					}
					out, err := w.svc.ApplyNotice(ctx, w.tenant, notice(txID, ref, amount))
					if err != nil {
						t.Fatalf("step %d: pay %s: %v", step, txID, err)
					}
					if out.Duplicate {
						t.Fatalf("step %d: a new notice %s was taken for a duplicate", step, txID)
					}
					if out.Payment.Status == payg.PaymentApplied {
						net[out.Payment.ContractID] += amount
					} else {
						suspended++
					}
					applied[txID] = out.Payment
					txIDs = append(txIDs, txID)
				case op < 8: // a duplicate delivery of an earlier notice
					txID := txIDs[r.IntN(len(txIDs))]
					p := applied[txID]
					out, err := w.svc.ApplyNotice(ctx, w.tenant, notice(txID, p.AccountRef, p.Amount.Amount))
					if err != nil || !out.Duplicate || out.Payment.ID != p.ID {
						t.Fatalf("step %d: duplicate of %s: %+v, %v", step, txID, out, err)
					}
					duplicates++
				default: // reverse an earlier payment
					txID := txIDs[r.IntN(len(txIDs))]
					p := applied[txID]
					var cur payg.Payment
					w.view(t, func(rd payg.Reader) error {
						var err error
						cur, err = rd.Payment(ctx, w.tenant, p.ID)
						return err
					})
					out, err := w.svc.Reverse(ctx, w.tenant, p.ID, "property test")
					switch {
					case cur.Status != payg.PaymentApplied:
						if core.ErrorCode(err) != core.ECONFLICT {
							t.Fatalf("step %d: reversing a %s payment: %v, want conflict", step, cur.Status, err)
						}
					case err != nil:
						// The lease rules may refuse a reversal (for instance of a
						// payment that an earlier reversal already emptied); then
						// nothing may have changed.
						if core.ErrorCode(err) == core.EINTERNAL {
							t.Fatalf("step %d: reverse %s: %v", step, txID, err)
						}
					default:
						net[out.Payment.ContractID] -= p.Amount.Amount
						reversed++
					}
				}
				for _, c := range contracts {
					w.checkLedger(t, c.ID, net[c.ID])
				}
			}
			t.Logf("%d duplicates, %d reversals, %d suspended", duplicates, reversed, suspended)
			if duplicates == 0 || reversed == 0 {
				t.Fatalf("the sequence exercised %d duplicates and %d reversals; pick seeds that exercise both", duplicates, reversed)
			}
			// Every token the store holds for a device has a distinct count.
			for _, c := range contracts {
				var tokens []payg.Token
				w.view(t, func(rd payg.Reader) error {
					var err error
					tokens, err = rd.Tokens(ctx, w.tenant, c.ID)
					return err
				})
				seen := map[int64]bool{}
				for _, tok := range tokens {
					if seen[tok.Count] {
						t.Fatalf("contract %s: two tokens at count %d", c.AccountNumber, tok.Count)
					}
					seen[tok.Count] = true
				}
			}
		})
	}
}
