package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DarajaOptions configure a fake Safaricom Daraja API.
type DarajaOptions struct {
	// ConsumerKey and ConsumerSecret are the app's credentials (OAuth
	// Basic auth); Passkey is the STK passkey the Password is checked with.
	ConsumerKey, ConsumerSecret, Passkey string
	// CallbackDelay is how long after accepting an STK push the result
	// is POSTed to its CallBackURL (the payer typing their PIN).
	CallbackDelay time.Duration
	// CallbackFirst sends the STK callback, and waits for its answer,
	// before answering the push itself: the race a gateway must survive.
	CallbackFirst bool
	// STKResult decides each push's result: a ResultCode (0 success,
	// 1032 cancelled, 1 insufficient funds, 1037 unreachable, …) and
	// its ResultDesc. Nil: every push succeeds. A negative code sends no
	// callback and leaves the push pending forever (the janitor's case).
	STKResult func(STKPush) (code int, desc string)
	// StatusIDs gives the ids a Transaction Status query is accepted with
	// (OriginatorConversationID, ConversationID), e.g. a result fixture's.
	// Nil: fresh ids. The result is never sent: a test posts it.
	StatusIDs func(StatusQuery) (originatorConversationID, conversationID string)
	// Client makes the callbacks (default: a client with a 10 s timeout).
	Client *http.Client
	Logger *slog.Logger
}

// STKPush is an STK push request as the fake received it.
type STKPush struct {
	BusinessShortCode string `json:"BusinessShortCode"`
	Password          string `json:"Password"`
	Timestamp         string `json:"Timestamp"`
	TransactionType   string `json:"TransactionType"`
	Amount            string `json:"Amount"`
	PartyA            string `json:"PartyA"`
	PartyB            string `json:"PartyB"`
	PhoneNumber       string `json:"PhoneNumber"`
	CallBackURL       string `json:"CallBackURL"`
	AccountReference  string `json:"AccountReference"`
	TransactionDesc   string `json:"TransactionDesc"`

	// Set by the fake.
	CheckoutRequestID string `json:"-"`
	MerchantRequestID string `json:"-"`
	// ResultCode is -1 while pending.
	ResultCode int    `json:"-"`
	ResultDesc string `json:"-"`
	Receipt    string `json:"-"`
}

// StatusQuery is a Transaction Status query as the fake received it.
type StatusQuery struct {
	Initiator          string `json:"Initiator"`
	SecurityCredential string `json:"SecurityCredential"`
	CommandID          string `json:"CommandID"`
	TransactionID      string `json:"TransactionID"`
	PartyA             string `json:"PartyA"`
	IdentifierType     string `json:"IdentifierType"`
	ResultURL          string `json:"ResultURL"`
	QueueTimeOutURL    string `json:"QueueTimeOutURL"`
	Remarks            string `json:"Remarks"`

	// Set by the fake: the ids it answered with.
	OriginatorConversationID string `json:"-"`
	ConversationID           string `json:"-"`
}

// URLRegistration is a C2B register URL call the fake received.
type URLRegistration struct {
	Version         string `json:"-"`
	ShortCode       string `json:"ShortCode"`
	ResponseType    string `json:"ResponseType"`
	ConfirmationURL string `json:"ConfirmationURL"`
	ValidationURL   string `json:"ValidationURL"`
}

// Daraja is a fake Daraja API speaking the real wire formats
// (providers.md §1): OAuth, STK push with its callback to the gateway, STK
// query, C2B URL registration, and Transaction Status queries (accepted
// and recorded; their results are not sent). Serve Handler() with httptest or
// net/http; Close waits for callbacks in flight.
type Daraja struct {
	o      DarajaOptions
	log    *slog.Logger
	mu     sync.Mutex
	token  string // the one valid token: each fetch invalidates the last
	pushes map[string]*STKPush
	order  []string
	regs   []URLRegistration
	status []StatusQuery
	seq    int
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// NewDaraja returns a fake Daraja.
func NewDaraja(o DarajaOptions) *Daraja {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Daraja{o: o, log: log, pushes: map[string]*STKPush{}, ctx: ctx, cancel: cancel}
}

// Close stops pending callbacks and waits for those in flight.
func (d *Daraja) Close() {
	d.cancel()
	d.wg.Wait()
}

// Handler serves the fake API.
func (d *Daraja) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/v1/generate", d.oauth)
	mux.HandleFunc("POST /mpesa/stkpush/v1/processrequest", d.authed(d.stkPush))
	mux.HandleFunc("POST /mpesa/stkpushquery/v1/query", d.authed(d.stkQuery))
	mux.HandleFunc("POST /mpesa/c2b/{version}/registerurl", d.authed(d.registerURL))
	mux.HandleFunc("POST /mpesa/transactionstatus/v1/query", d.authed(d.transactionStatus))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		darajaError(w, http.StatusNotFound, "404.001.01", "Resource not found")
	})
	return mux
}

// Pushes returns the STK pushes received so far, oldest first.
func (d *Daraja) Pushes() []STKPush {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]STKPush, 0, len(d.order))
	for _, id := range d.order {
		out = append(out, *d.pushes[id])
	}
	return out
}

// StatusQueries returns the Transaction Status queries received so far,
// oldest first.
func (d *Daraja) StatusQueries() []StatusQuery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]StatusQuery(nil), d.status...)
}

// Registrations returns the C2B URL registrations received so far.
func (d *Daraja) Registrations() []URLRegistration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]URLRegistration(nil), d.regs...)
}

func darajaError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"requestId": randomHex(8) + "-" + randomHex(4), "errorCode": code, "errorMessage": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *Daraja) oauth(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if r.URL.Query().Get("grant_type") != "client_credentials" {
		darajaError(w, http.StatusBadRequest, "400.008.02", "Invalid grant type passed")
		return
	}
	if !ok || user != d.o.ConsumerKey || pass != d.o.ConsumerSecret {
		darajaError(w, http.StatusBadRequest, "400.008.01", "Invalid Authentication passed")
		return
	}
	d.mu.Lock()
	d.token = randomHex(14)
	tok := d.token
	d.mu.Unlock()
	// Daraja writes expires_in as a string.
	writeJSON(w, http.StatusOK, map[string]string{"access_token": tok, "expires_in": "3599"})
}

func (d *Daraja) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		tok := d.token
		d.mu.Unlock()
		if tok == "" || r.Header.Get("Authorization") != "Bearer "+tok {
			darajaError(w, http.StatusUnauthorized, "404.001.03", "Invalid Access Token")
			return
		}
		h(w, r)
	}
}

func (d *Daraja) password(shortCode, ts string) string {
	return base64.StdEncoding.EncodeToString([]byte(shortCode + d.o.Passkey + ts))
}

func (d *Daraja) stkPush(w http.ResponseWriter, r *http.Request) {
	var p STKPush
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&p); err != nil {
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid Body")
		return
	}
	amount, err := strconv.ParseInt(p.Amount, 10, 64)
	switch {
	case p.Password != d.password(p.BusinessShortCode, p.Timestamp):
		darajaError(w, http.StatusInternalServerError, "500.001.1001", "Wrong credentials")
		return
	case err != nil || amount < 1:
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid Amount")
		return
	case len(p.AccountReference) == 0 || len(p.AccountReference) > 12:
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid AccountReference")
		return
	case !strings.HasPrefix(p.CallBackURL, "http"):
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid CallBackURL")
		return
	}
	d.mu.Lock()
	d.seq++
	now := time.Now()
	p.CheckoutRequestID = fmt.Sprintf("ws_CO_%s%06d%s", now.In(eat).Format("02012006150405"), d.seq, p.PhoneNumber)
	p.MerchantRequestID = fmt.Sprintf("%05d-%08d-1", d.seq%100000, d.seq)
	p.ResultCode = -1
	d.pushes[p.CheckoutRequestID] = &p
	d.order = append(d.order, p.CheckoutRequestID)
	d.mu.Unlock()
	code, desc := 0, "The service request is processed successfully."
	if d.o.STKResult != nil {
		code, desc = d.o.STKResult(p)
	}
	if d.o.CallbackFirst && code >= 0 {
		d.finishPush(p.CheckoutRequestID, code, desc)
		code = -1 // sent
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"MerchantRequestID": p.MerchantRequestID, "CheckoutRequestID": p.CheckoutRequestID, "ResponseCode": "0",
		"ResponseDescription": "Success. Request accepted for processing", "CustomerMessage": "Success. Request accepted for processing",
	})
	if code < 0 {
		return // the payer never answers, or the callback went first
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(d.o.CallbackDelay):
		}
		d.finishPush(p.CheckoutRequestID, code, desc)
	}()
}

// finishPush records a push's result and POSTs its callback.
func (d *Daraja) finishPush(checkout string, code int, desc string) {
	d.mu.Lock()
	p := d.pushes[checkout]
	p.ResultCode, p.ResultDesc = code, desc
	if code == 0 {
		id, _ := TransID()
		p.Receipt = id
	}
	cp := *p
	d.mu.Unlock()
	cb := map[string]any{"MerchantRequestID": cp.MerchantRequestID, "CheckoutRequestID": cp.CheckoutRequestID,
		"ResultCode": code, "ResultDesc": desc}
	if code == 0 {
		amount, _ := strconv.ParseInt(cp.Amount, 10, 64)
		phone, _ := strconv.ParseInt(cp.PhoneNumber, 10, 64)
		date, _ := strconv.ParseInt(time.Now().In(eat).Format("20060102150405"), 10, 64)
		// Amount, TransactionDate and PhoneNumber are JSON numbers;
		// Balance has no Value.
		cb["CallbackMetadata"] = map[string]any{"Item": []map[string]any{
			{"Name": "Amount", "Value": json.Number(strconv.FormatInt(amount, 10) + ".00")},
			{"Name": "MpesaReceiptNumber", "Value": cp.Receipt},
			{"Name": "Balance"},
			{"Name": "TransactionDate", "Value": date},
			{"Name": "PhoneNumber", "Value": phone},
		}}
	}
	body, _ := json.Marshal(map[string]any{"Body": map[string]any{"stkCallback": cb}})
	status, err := post(d.ctx, d.o.Client, http.MethodPost, cp.CallBackURL, body)
	d.log.Info("daraja sim: stk callback sent", "checkout_request_id", checkout, "result_code", code, "status", status, "error", err)
}

// post sends a JSON callback and returns the answer's status.
func post(ctx context.Context, c *http.Client, method, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func (d *Daraja) stkQuery(w http.ResponseWriter, r *http.Request) {
	var q struct {
		BusinessShortCode string `json:"BusinessShortCode"`
		Password          string `json:"Password"`
		Timestamp         string `json:"Timestamp"`
		CheckoutRequestID string `json:"CheckoutRequestID"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&q); err != nil {
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid Body")
		return
	}
	if q.Password != d.password(q.BusinessShortCode, q.Timestamp) {
		darajaError(w, http.StatusInternalServerError, "500.001.1001", "Wrong credentials")
		return
	}
	d.mu.Lock()
	p, ok := d.pushes[q.CheckoutRequestID]
	var cp STKPush
	if ok {
		cp = *p
	}
	d.mu.Unlock()
	switch {
	case !ok:
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
	case cp.ResultCode < 0:
		darajaError(w, http.StatusInternalServerError, "500.001.1001", "The transaction is being processed")
	default:
		// ResultCode is a string here, unlike the callback's number.
		writeJSON(w, http.StatusOK, map[string]string{
			"ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
			"MerchantRequestID": cp.MerchantRequestID, "CheckoutRequestID": cp.CheckoutRequestID,
			"ResultCode": strconv.Itoa(cp.ResultCode), "ResultDesc": cp.ResultDesc,
		})
	}
}

func (d *Daraja) registerURL(w http.ResponseWriter, r *http.Request) {
	var reg URLRegistration
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&reg); err != nil {
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid Body")
		return
	}
	reg.Version = r.PathValue("version")
	if (reg.Version != "v1" && reg.Version != "v2") || (reg.ResponseType != "Completed" && reg.ResponseType != "Cancelled") ||
		!strings.HasPrefix(reg.ConfirmationURL, "http") || !strings.HasPrefix(reg.ValidationURL, "http") {
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid registration")
		return
	}
	d.mu.Lock()
	d.regs = append(d.regs, reg)
	d.mu.Unlock()
	// Daraja's spelling: OriginatorCoversationID.
	writeJSON(w, http.StatusOK, map[string]string{"OriginatorCoversationID": randomHex(4) + "-" + randomHex(4), "ResponseCode": "0", "ResponseDescription": "Success"})
}

// transactionStatus accepts a Transaction Status query (§1.6) the way
// Daraja does: at once, with the ids its result will carry.
func (d *Daraja) transactionStatus(w http.ResponseWriter, r *http.Request) {
	var q StatusQuery
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&q); err != nil {
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid Body")
		return
	}
	switch {
	case q.CommandID != "TransactionStatusQuery":
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid CommandID")
		return
	case q.Initiator == "" || q.SecurityCredential == "":
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid Initiator")
		return
	case q.TransactionID == "" || !strings.HasPrefix(q.ResultURL, "http") || !strings.HasPrefix(q.QueueTimeOutURL, "http"):
		darajaError(w, http.StatusBadRequest, "400.002.02", "Bad Request - Invalid TransactionID or URLs")
		return
	}
	d.mu.Lock()
	d.seq++
	seq := d.seq
	d.mu.Unlock()
	if d.o.StatusIDs != nil {
		q.OriginatorConversationID, q.ConversationID = d.o.StatusIDs(q)
	} else {
		q.OriginatorConversationID = fmt.Sprintf("%04d-%07d-1", seq%10000, seq)
		q.ConversationID = "AG_" + time.Now().In(eat).Format("20060102") + "_" + randomHex(10)
	}
	d.mu.Lock()
	d.status = append(d.status, q)
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{
		"OriginatorConversationID": q.OriginatorConversationID, "ConversationID": q.ConversationID,
		"ResponseCode": "0", "ResponseDescription": "Accept the service request successfully.",
	})
}
