package loadtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
)

// Verification is what the store says about the payments of a run.
type Verification struct {
	// Payments is the number of distinct payments sent; Acked of them got
	// a 2xx at least once. Unacked ones may or may not be stored (the
	// provider would retry them); both are accepted.
	Payments int `json:"payments"`
	Acked    int `json:"acked"`
	Unacked  int `json:"unacked"`
	// Applied and Suspense count stored payments by what became of them.
	Applied  int `json:"applied"`
	Suspense int `json:"suspense"`
	// Contracts paid and tokens checked.
	Contracts int `json:"contracts"`
	Tokens    int `json:"tokens"`
	// Problems lists the first problems found; ProblemCount counts all.
	Problems     []string `json:"problems,omitempty"`
	ProblemCount int      `json:"problem_count"`
	mu           sync.Mutex
}

// OK reports whether no problem was found.
func (v *Verification) OK() bool { return v.ProblemCount == 0 }

func (v *Verification) problem(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ProblemCount++
	if len(v.Problems) < 20 {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
}

// paid is what a contract should show: the payments applied to it.
type paid struct {
	sum      int64
	payments map[string]Payment // by stored payment id
}

// Verify checks through the store that every payment of the run that was
// acknowledged is stored once: applied to its contract with exactly one
// token (in the contract's ledger, balances and token chain exactly once)
// or, for an unknown account, kept in suspense; that the duplicates
// changed nothing; and that nothing else was stored for the instance.
// Tokens are decoded as the device would, in count order: each must be
// accepted once, for the days its payment bought.
func Verify(ctx context.Context, st payg.Store, f *Fleet, payments []Payment) (*Verification, error) {
	v := &Verification{Payments: len(payments)}
	stored, err := storedPayments(ctx, st, f.Tenant)
	if err != nil {
		return nil, err
	}
	suspense, err := suspenseItems(ctx, st, f.Tenant)
	if err != nil {
		return nil, err
	}
	want := map[int]*paid{}
	for _, p := range payments {
		if p.Acked() {
			v.Acked++
		} else {
			v.Unacked++
		}
		sp, ok := stored[p.TxID]
		if !ok {
			if p.Acked() {
				v.problem("payment %s was acknowledged but is not stored", p.TxID)
			}
			continue
		}
		delete(stored, p.TxID)
		if sp.Amount != (core.Money{Amount: p.Amount, Currency: "KES"}) {
			v.problem("payment %s stored with amount %v, sent %d", p.TxID, sp.Amount, p.Amount)
		}
		if p.Contract < 0 {
			v.Suspense++
			item, ok := suspense[sp.ID]
			if sp.Status != payg.PaymentSuspense || !ok || item.Reason != payg.SuspenseUnknownAccount {
				v.problem("payment %s to unknown account %s: status %s, suspense item %+v, want suspense (unknown_account)", p.TxID, p.Account, sp.Status, item)
			}
			continue
		}
		v.Applied++
		if sp.Status != payg.PaymentApplied || sp.ContractID != f.ContractID(p.Contract) {
			v.problem("payment %s: status %s on contract %q, want applied on %s", p.TxID, sp.Status, sp.ContractID, f.ContractID(p.Contract))
			continue
		}
		w := want[p.Contract]
		if w == nil {
			w = &paid{payments: map[string]Payment{}}
			want[p.Contract] = w
		}
		w.sum += p.Amount
		w.payments[sp.ID] = p
	}
	for txID := range stored {
		v.problem("payment %s is stored but was never sent", txID)
	}
	v.Contracts = len(want)

	loc, err := time.LoadLocation("Africa/Nairobi")
	if err != nil {
		return nil, fmt.Errorf("loadtest: verify: %w", err)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var tokens int64
	var tmu sync.Mutex
	errs := make(chan error, 1)
	for range 4 {
		wg.Go(func() {
			for i := range jobs {
				n, err := checkContract(ctx, st, f, i, want[i], loc, v)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				tmu.Lock()
				tokens += int64(n)
				tmu.Unlock()
			}
		})
	}
	for i := range want {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	v.Tokens = int(tokens)
	return v, nil
}

// checkContract checks contract i against the payments applied to it and
// returns the number of its tokens.
func checkContract(ctx context.Context, st payg.Store, f *Fleet, i int, w *paid, loc *time.Location, v *Verification) (int, error) {
	var c payg.Contract
	var lines []payg.LedgerLine
	var toks []payg.Token
	id := f.ContractID(i)
	err := st.View(ctx, func(r payg.Reader) error {
		var err error
		if c, err = r.Contract(ctx, f.Tenant, id); err != nil {
			return err
		}
		if lines, err = r.LedgerLines(ctx, f.Tenant, id); err != nil {
			return err
		}
		toks, err = r.Tokens(ctx, f.Tenant, id)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("loadtest: verify contract %s: %w", id, err)
	}
	if c.State.TotalPaid != w.sum {
		v.problem("contract %s: total paid %d, the payments applied to it sum to %d", id, c.State.TotalPaid, w.sum)
	}
	ll := make([]lease.Line, len(lines))
	seen := map[string]bool{}
	for k, l := range lines {
		ll[k] = l.Line
		if _, ok := w.payments[l.PaymentID]; !ok {
			v.problem("contract %s: ledger line %d from payment %q, which was not applied to it", id, l.Seq, l.PaymentID)
		}
		seen[l.PaymentID] = true
	}
	if err := lease.CheckLedger(c.Plan, c.State, ll, w.sum, loc); err != nil {
		v.problem("contract %s: %v", id, err)
	}
	perPayment := map[string]int{}
	for _, t := range toks {
		perPayment[t.PaymentID]++
	}
	for pid, p := range w.payments {
		if !seen[pid] {
			v.problem("contract %s: payment %s has no ledger line", id, p.TxID)
		}
		if n := perPayment[pid]; n != 1 {
			v.problem("contract %s: payment %s has %d tokens, want 1", id, p.TxID, n)
		}
	}

	// The device accepts every token once, in count order, each for the
	// days its payment bought.
	slices.SortFunc(toks, func(a, b payg.Token) int { return int(a.Count - b.Count) })
	key := f.Key(i)
	dev := openpaygo.Device{Key: key, StartingCode: openpaygo.DeriveStartingCode(key), ValueDivider: 1}
	state := openpaygo.InitialState(0)
	for k, t := range toks {
		p, ok := w.payments[t.PaymentID]
		if !ok {
			v.problem("contract %s: token at count %d for payment %q, which was not applied to it", id, t.Count, t.PaymentID)
			continue
		}
		if k > 0 && t.Count == toks[k-1].Count {
			v.problem("contract %s: two tokens at count %d", id, t.Count)
			continue
		}
		res, err := dev.Decode(t.Code, state)
		if err != nil || res.Type != openpaygo.AddTime || res.Value != p.Days || int64(res.Count) != t.Count {
			v.problem("contract %s: token %s (count %d) for %d days: the device, last at count %d, reads %v value %d at count %d (%v)",
				id, t.Code, t.Count, p.Days, state.LastCount, res.Type, res.Value, res.Count, err)
			continue
		}
		state = state.Apply(res)
	}
	return len(toks), nil
}

// storedPayments returns the gateway instance's stored payments of tenant
// by provider transaction id.
func storedPayments(ctx context.Context, st payg.Store, tenant string) (map[string]payg.Payment, error) {
	out := map[string]payg.Payment{}
	err := pages(ctx, st, func(r payg.Reader, req core.PageRequest) (string, error) {
		pg, err := r.ListPayments(ctx, tenant, payg.PaymentQuery{}, req)
		for _, p := range pg.Items {
			if p.Instance == Instance {
				out[p.ProviderTxID] = p
			}
		}
		return pg.NextCursor, err
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: list payments: %w", err)
	}
	return out, nil
}

// suspenseItems returns tenant's suspense items by payment id.
func suspenseItems(ctx context.Context, st payg.Store, tenant string) (map[string]payg.SuspenseItem, error) {
	out := map[string]payg.SuspenseItem{}
	err := pages(ctx, st, func(r payg.Reader, req core.PageRequest) (string, error) {
		pg, err := r.ListSuspense(ctx, tenant, "", req)
		for _, s := range pg.Items {
			out[s.PaymentID] = s
		}
		return pg.NextCursor, err
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: list suspense: %w", err)
	}
	return out, nil
}

// pages calls list for each page of a list, one read transaction a page,
// until it returns no next cursor.
func pages(ctx context.Context, st payg.Store, list func(r payg.Reader, req core.PageRequest) (next string, err error)) error {
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		var next string
		if err := st.View(ctx, func(r payg.Reader) error {
			var err error
			next, err = list(r, req)
			return err
		}); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		req.Cursor = next
	}
}
