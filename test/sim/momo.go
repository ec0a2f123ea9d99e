package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// MoMoOptions configure a fake MTN MoMo collection API.
type MoMoOptions struct {
	// APIUser, APIKey and SubscriptionKey are the credentials the token
	// call is checked with; TargetEnvironment the X-Target-Environment
	// every call must send (default "sandbox").
	APIUser, APIKey, SubscriptionKey, TargetEnvironment string
	// CallbackDelay is how long after a request-to-pay the payer answers
	// and the callback goes to the X-Callback-Url.
	CallbackDelay time.Duration
	// CallbackMethod is PUT (default) or POST: MTN uses both.
	CallbackMethod string
	// Result decides each request's outcome: status SUCCESSFUL or FAILED
	// and, for FAILED, the reason ("NOT_ENOUGH_FUNDS", …). Nil: every
	// request succeeds. An empty status leaves it PENDING forever.
	Result func(RequestToPay) (status, reason string)
	// LoseResponses makes the first n request-to-pay calls land but lose
	// their answer (the connection is closed): the caller cannot tell
	// whether they did.
	LoseResponses int
	// DropRequests makes the first n request-to-pay calls fail without
	// landing (the connection is closed before anything is stored).
	DropRequests int
	// Unavailable makes the first n request-to-pay calls answer 503
	// without landing.
	Unavailable int
	// NoCallbacks sends no callbacks: only GET status tells the outcome
	// (the sandbox often behaves so).
	NoCallbacks bool
	// MangleCallback, when set, rewrites each callback body before it is
	// sent (a malformed callback).
	MangleCallback func([]byte) []byte
	Client         *http.Client
	Logger         *slog.Logger
}

// RequestToPay is a request-to-pay as the fake holds it: the body MTN
// receives and the status object it answers and calls back with.
type RequestToPay struct {
	FinancialTransactionID string `json:"financialTransactionId,omitempty"`
	ExternalID             string `json:"externalId"`
	Amount                 string `json:"amount"`
	Currency               string `json:"currency"`
	Payer                  struct {
		PartyIDType string `json:"partyIdType"`
		PartyID     string `json:"partyId"`
	} `json:"payer"`
	PayerMessage string `json:"payerMessage"`
	PayeeNote    string `json:"payeeNote"`
	Status       string `json:"status"`
	Reason       string `json:"reason,omitempty"`

	ReferenceID string `json:"-"`
	CallbackURL string `json:"-"`
}

// MoMo is a fake MTN MoMo collection API speaking the real wire formats
// (providers.md §2): token, request-to-pay with X-Reference-Id, GET
// status, and the PUT or POST callback to the gateway.
type MoMo struct {
	o       MoMoOptions
	log     *slog.Logger
	mu      sync.Mutex
	token   string
	reqs    map[string]*RequestToPay
	order   []string
	lose    int
	drop    int
	unavail int
	seq     int
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewMoMo returns a fake MoMo API.
func NewMoMo(o MoMoOptions) *MoMo {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.TargetEnvironment == "" {
		o.TargetEnvironment = "sandbox"
	}
	if o.CallbackMethod == "" {
		o.CallbackMethod = http.MethodPut
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &MoMo{o: o, log: log, reqs: map[string]*RequestToPay{}, lose: o.LoseResponses, drop: o.DropRequests, unavail: o.Unavailable, ctx: ctx, cancel: cancel}
}

// Close stops pending callbacks and waits for those in flight.
func (m *MoMo) Close() {
	m.cancel()
	m.wg.Wait()
}

// Requests returns the requests-to-pay received so far, oldest first.
func (m *MoMo) Requests() []RequestToPay {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]RequestToPay, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, *m.reqs[id])
	}
	return out
}

// Handler serves the fake API.
func (m *MoMo) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /collection/token/", m.tokenCall)
	mux.HandleFunc("POST /collection/v1_0/requesttopay", m.authed(m.requestToPay))
	mux.HandleFunc("GET /collection/v1_0/requesttopay/{ref}", m.authed(m.status))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		momoError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
	})
	return mux
}

func momoError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func (m *MoMo) tokenCall(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if r.Header.Get("Ocp-Apim-Subscription-Key") != m.o.SubscriptionKey {
		// The API gateway's own error shape.
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "Access denied due to invalid subscription key."})
		return
	}
	if !ok || user != m.o.APIUser || pass != m.o.APIKey {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login_failed"})
		return
	}
	m.mu.Lock()
	m.token = randomHex(24)
	tok := m.token
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "access_token", "expires_in": 3600})
}

func (m *MoMo) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		tok := m.token
		m.mu.Unlock()
		switch {
		case r.Header.Get("Ocp-Apim-Subscription-Key") != m.o.SubscriptionKey:
			writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "Access denied due to invalid subscription key."})
		case tok == "" || r.Header.Get("Authorization") != "Bearer "+tok:
			writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "Access denied due to invalid access token."})
		case r.Header.Get("X-Target-Environment") != m.o.TargetEnvironment:
			momoError(w, http.StatusBadRequest, "NOT_ALLOWED_TARGET_ENVIRONMENT", "Access to target environment is forbidden.")
		default:
			h(w, r)
		}
	}
}

func (m *MoMo) requestToPay(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	drop, unavail := m.drop > 0, m.drop == 0 && m.unavail > 0
	if drop {
		m.drop--
	} else if unavail {
		m.unavail--
	}
	m.mu.Unlock()
	switch {
	case drop:
		hangUp(w)
		return
	case unavail:
		momoError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "Service temporarily unavailable.")
		return
	}
	ref := r.Header.Get("X-Reference-Id")
	if !uuidV4.MatchString(ref) {
		momoError(w, http.StatusBadRequest, "INVALID_REFERENCE_ID", "X-Reference-Id must be a UUID version 4.")
		return
	}
	var p RequestToPay
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&p); err != nil {
		momoError(w, http.StatusBadRequest, "INVALID_BODY", "The request body is not valid JSON.")
		return
	}
	if _, err := strconv.ParseInt(p.Amount, 10, 64); err != nil || p.Currency == "" || p.Payer.PartyID == "" ||
		p.PayerMessage == "" || p.PayeeNote == "" {
		momoError(w, http.StatusBadRequest, "INVALID_INPUT", "amount, currency, payer, payerMessage and payeeNote are required.")
		return
	}
	m.mu.Lock()
	if _, dup := m.reqs[ref]; dup {
		m.mu.Unlock()
		momoError(w, http.StatusConflict, "RESOURCE_ALREADY_EXIST", "Duplicated reference id. Creation of resource failed.")
		return
	}
	p.ReferenceID, p.CallbackURL, p.Status = ref, r.Header.Get("X-Callback-Url"), "PENDING"
	p.FinancialTransactionID, p.Reason = "", ""
	m.reqs[ref] = &p
	m.order = append(m.order, ref)
	lose := m.lose > 0
	if lose {
		m.lose--
	}
	m.mu.Unlock()

	status, reason := "SUCCESSFUL", ""
	if m.o.Result != nil {
		status, reason = m.o.Result(p)
	}
	if status != "" {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(m.o.CallbackDelay):
			}
			m.finish(ref, status, reason)
		}()
	}
	if lose {
		hangUp(w) // the request landed; its answer is lost on the way
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (m *MoMo) finish(ref, status, reason string) {
	m.mu.Lock()
	p := m.reqs[ref]
	m.seq++
	p.Status = status
	if status == "SUCCESSFUL" {
		p.FinancialTransactionID = fmt.Sprintf("%010d", 1000000000+m.seq)
	} else {
		p.Reason = reason
	}
	cp := *p
	m.mu.Unlock()
	if m.o.NoCallbacks || cp.CallbackURL == "" {
		return
	}
	body, _ := json.Marshal(cp)
	if m.o.MangleCallback != nil {
		body = m.o.MangleCallback(body)
	}
	code, err := post(m.ctx, m.o.Client, m.o.CallbackMethod, cp.CallbackURL, body)
	m.log.Info("momo sim: callback sent", "reference_id", ref, "status", status, "answer", code, "error", err)
}

func (m *MoMo) status(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	p, ok := m.reqs[r.PathValue("ref")]
	var cp RequestToPay
	if ok {
		cp = *p
	}
	m.mu.Unlock()
	if !ok {
		momoError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
		return
	}
	writeJSON(w, http.StatusOK, cp)
}
