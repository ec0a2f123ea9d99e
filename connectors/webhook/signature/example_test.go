package signature_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook/signature"
)

// A CRM's webhook handler: verify, then use webhook-id to drop repeats.
func ExampleVerify() {
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} // the endpoint's secret, from the gateway
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		if err := signature.Verify(secrets, r.Header, body, signature.DefaultTolerance, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Println("accepted", r.Header.Get(signature.HeaderID))
		w.WriteHeader(http.StatusNoContent)
	}

	// What the gateway sends.
	body := `{"id":"evt_1","type":"payment.applied"}`
	h, _ := signature.Headers(secrets, "evt_1", time.Now(), []byte(body))
	req := httptest.NewRequest(http.MethodPost, "/webhooks/gateway", strings.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	handler(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// accepted evt_1
	// 204
}
