package loadtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Payment is one M-Pesa payment a run sends, maybe more than once.
type Payment struct {
	TxID string
	// Contract is the index of the fleet contract paid, -1 for an unknown
	// account.
	Contract int
	Account  string
	// Days of credit the amount buys; the amount is Days × PricePerDay.
	Days      int
	Amount    int64 // minor units (KES cents)
	TransTime string
	// Sends counts the calls that carried it, Acks those answered 2xx.
	Sends, Acks int
}

// Acked reports whether some call carrying the payment was acknowledged.
func (p Payment) Acked() bool { return p.Acks > 0 }

// eat is Kenyan time, in which Daraja writes TransTime.
var eat = time.FixedZone("EAT", 3*60*60)

// c2b is a C2B confirmation body as Daraja sends it.
type c2b struct {
	TransactionType   string `json:"TransactionType"`
	TransID           string `json:"TransID"`
	TransTime         string `json:"TransTime"`
	TransAmount       string `json:"TransAmount"`
	BusinessShortCode string `json:"BusinessShortCode"`
	BillRefNumber     string `json:"BillRefNumber"`
	InvoiceNumber     string `json:"InvoiceNumber"`
	OrgAccountBalance string `json:"OrgAccountBalance"`
	ThirdPartyTransID string `json:"ThirdPartyTransID"`
	MSISDN            string `json:"MSISDN"`
	FirstName         string `json:"FirstName"`
	MiddleName        string `json:"MiddleName"`
	LastName          string `json:"LastName"`
}

// Body is the payment's C2B confirmation (v2: masked MSISDN), the same
// bytes at every send.
func (p Payment) Body() []byte {
	b, _ := json.Marshal(c2b{
		TransactionType: "Pay Bill", TransID: p.TxID, TransTime: p.TransTime,
		TransAmount:       fmt.Sprintf("%d.%02d", p.Amount/100, p.Amount%100),
		BusinessShortCode: "600123", BillRefNumber: p.Account, OrgAccountBalance: "48250.00",
		MSISDN: "2547 ***** 123", FirstName: "JANE",
	})
	return b
}

// book is the payments of a run, safe for concurrent use.
type book struct {
	mu       sync.Mutex
	payments []Payment
}

func (b *book) add(p Payment) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.payments = append(b.payments, p)
	return len(b.payments) - 1
}

// done records a send of payment i and returns whether it was its first
// acknowledgement.
func (b *book) done(i, status int) (firstAck bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := &b.payments[i]
	p.Sends++
	if status >= 200 && status <= 299 {
		p.Acks++
		return p.Acks == 1
	}
	return false
}

// Payments returns a copy of the book.
func (b *book) Payments() []Payment {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Payment(nil), b.payments...)
}

// MixOptions shape a benchmark's traffic.
type MixOptions struct {
	Fleet *Fleet
	// DupShare of the calls re-send a payment already acknowledged (as a
	// telco retries); UnknownShare are new payments to an account no
	// contract has.
	DupShare, UnknownShare float64
	// Seed makes the choices repeatable; TxPrefix starts every TransID.
	Seed     uint64
	TxPrefix string
}

// Mix is the benchmark's Source: new payments to random contracts for 1 to
// 7 days of credit, unknown accounts and duplicates in the given shares.
type Mix struct {
	o MixOptions
	book
	ackMu sync.Mutex
	acked []int // payments acknowledged at least once
	dups  struct {
		sync.Mutex
		sent, ok int
	}
}

// NewMix returns a Mix.
func NewMix(o MixOptions) *Mix { return &Mix{o: o} }

// Next implements Source.
func (m *Mix) Next(seq int) (Call, bool) {
	rng := rand.New(rand.NewPCG(m.o.Seed, uint64(seq)))
	r := rng.Float64()
	if r < m.o.DupShare {
		m.ackMu.Lock()
		n := len(m.acked)
		i := -1
		if n > 0 {
			i = m.acked[rng.IntN(n)]
		}
		m.ackMu.Unlock()
		if i >= 0 {
			m.mu.Lock()
			p := m.payments[i]
			m.mu.Unlock()
			return Call{Payment: i, Dup: true, Body: p.Body()}, true
		}
		// Nothing acknowledged yet: send a new payment instead.
	}
	days := 1 + rng.IntN(7)
	p := Payment{Days: days, Amount: int64(days) * PricePerDay, TransTime: time.Now().In(eat).Format("20060102150405")}
	if r >= m.o.DupShare && r < m.o.DupShare+m.o.UnknownShare {
		p.Contract, p.Account = -1, fmt.Sprintf("UNKNOWN%07d", seq)
	} else {
		p.Contract = rng.IntN(m.o.Fleet.Contracts)
		p.Account = m.o.Fleet.Account(p.Contract)
	}
	p.TxID = fmt.Sprintf("%s%08d", m.o.TxPrefix, seq)
	i := m.add(p)
	return Call{Payment: i, Body: p.Body()}, true
}

// Done implements Source.
func (m *Mix) Done(c Call, status int) {
	first := m.done(c.Payment, status)
	if c.Dup {
		m.dups.Lock()
		m.dups.sent++
		if status >= 200 && status <= 299 {
			m.dups.ok++
		}
		m.dups.Unlock()
		return
	}
	if first {
		m.ackMu.Lock()
		m.acked = append(m.acked, c.Payment)
		m.ackMu.Unlock()
	}
}

// Duplicates returns how many duplicate calls were sent and acknowledged.
func (m *Mix) Duplicates() (sent, ok int) {
	m.dups.Lock()
	defer m.dups.Unlock()
	return m.dups.sent, m.dups.ok
}

// Storm is the duplicate storm's Source: every payment sent Copies times,
// the copies of a few payments shuffled together so that they are in
// flight at once.
type Storm struct {
	book
	order []int // payment index of each call
}

// NewStorm returns a storm of n new payments to random fleet contracts,
// each sent copies times. Copies of the payments of each window of
// `window` calls are shuffled within it: with at least that many
// concurrent callers they race each other.
func NewStorm(f *Fleet, n, copies, window int, seed uint64, txPrefix string) *Storm {
	rng := rand.New(rand.NewPCG(seed, 0))
	s := &Storm{}
	now := time.Now().In(eat).Format("20060102150405")
	for i := range n {
		c := rng.IntN(f.Contracts)
		days := 1 + rng.IntN(7)
		s.add(Payment{TxID: fmt.Sprintf("%s%08d", txPrefix, i), Contract: c, Account: f.Account(c), Days: days,
			Amount: int64(days) * PricePerDay, TransTime: now})
		for range copies {
			s.order = append(s.order, i)
		}
	}
	per := max(window/copies, 1) * copies
	for lo := 0; lo < len(s.order); lo += per {
		w := s.order[lo:min(lo+per, len(s.order))]
		rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
	}
	return s
}

// Calls is the number of calls in the storm.
func (s *Storm) Calls() int { return len(s.order) }

// Next implements Source.
func (s *Storm) Next(seq int) (Call, bool) {
	if seq >= len(s.order) {
		return Call{}, false
	}
	i := s.order[seq]
	s.mu.Lock()
	p := s.payments[i]
	s.mu.Unlock()
	return Call{Payment: i, Body: p.Body()}, true
}

// Done implements Source.
func (s *Storm) Done(c Call, status int) { s.done(c.Payment, status) }
