package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core/payg"
)

// BaselineInstance is the instance name of the baseline's payment rows.
const BaselineInstance = "baseline"

// Baseline is the yardstick: a minimal net/http handler that reads a C2B
// confirmation and commits one durable transaction of two inserts, the
// payment row and an outbox (event) row, through the same store the
// gateway uses. Everything the gateway does beyond that (verification,
// matching, allocation, tokens, several events, gin, metrics, logs) is what
// the ratio prices.
type Baseline struct {
	URL  string
	srv  *http.Server
	done chan error
}

// StartBaseline serves the baseline handler at /c2b on 127.0.0.1:0; its
// rows belong to tenant.
func StartBaseline(st payg.Store, tenant string) (*Baseline, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadtest: baseline listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /c2b", baselineHandler{st: st, tenant: tenant})
	b := &Baseline{
		URL:  "http://" + ln.Addr().String() + "/c2b",
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() { b.done <- b.srv.Serve(ln) }()
	return b, nil
}

// Close shuts the baseline server down.
func (b *Baseline) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	if serr := <-b.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("loadtest: baseline: %w", err)
	}
	return nil
}

type baselineHandler struct {
	st     payg.Store
	tenant string
}

var ackBody = []byte(`{"ResultCode":0,"ResultDesc":"Success"}`)

func (h baselineHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	var in struct{ TransID, TransAmount, BillRefNumber string }
	if err := json.Unmarshal(body, &in); err != nil || in.TransID == "" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	amount, err := adapters.ParseAmount(strings.TrimSpace(in.TransAmount), "KES")
	if err != nil {
		http.Error(w, "bad amount", http.StatusBadRequest)
		return
	}
	now := time.Now()
	p := payg.Payment{
		ID: newID("pay_"), TenantID: h.tenant, Instance: BaselineInstance, ProviderTxID: in.TransID,
		Status: payg.PaymentPending, Amount: amount, AccountRef: in.BillRefNumber, ReceivedAt: now, Raw: body,
	}
	data, _ := json.Marshal(map[string]any{"payment_id": p.ID, "provider_tx_id": p.ProviderTxID, "amount": amount.Amount})
	err = h.st.InTx(r.Context(), func(tx payg.Tx) error {
		if err := tx.InsertPayment(r.Context(), p); err != nil {
			return err
		}
		_, err := tx.InsertEvent(r.Context(), payg.Event{ID: newID("evt_"), TenantID: h.tenant, Type: payg.EventPaymentReceived, Data: data, CreatedAt: now})
		return err
	})
	// A duplicate TransID was committed before: acknowledge it again.
	if err != nil && !errors.Is(err, payg.ErrConcurrentWrite) {
		http.Error(w, "not stored", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(ackBody)
}

// newID is prefix + 32 hex digits, Unix milliseconds first and random
// after, ordered by time like the gateway's UUIDv7 ids (so both insert
// into their indexes alike).
func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%012x%s", prefix, time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}
