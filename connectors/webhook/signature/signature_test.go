package signature_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook/signature"
)

type vector struct {
	Name       string   `json:"name"`
	Secrets    []string `json:"secrets"`
	SignedWith []string `json:"signed_with"`
	ID         string   `json:"id"`
	Timestamp  string   `json:"timestamp"`
	Body       string   `json:"body"`
	Signature  string   `json:"signature"`
	Now        int64    `json:"now"`
	Tolerance  int64    `json:"tolerance_seconds"`
	Expect     string   `json:"expect"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 10 {
		t.Fatalf("%d vectors", len(f.Vectors))
	}
	return f.Vectors
}

var expectErr = map[string]error{
	"valid":           nil,
	"no_match":        signature.ErrNoMatch,
	"stale_timestamp": signature.ErrStaleTimestamp,
	"bad_timestamp":   signature.ErrBadTimestamp,
	"missing_headers": signature.ErrMissingHeaders,
}

func TestVerifierPassesVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			want, ok := expectErr[v.Expect]
			if !ok {
				t.Fatalf("unknown expect %q", v.Expect)
			}
			h := http.Header{}
			for k, val := range map[string]string{"Webhook-Id": v.ID, "Webhook-Timestamp": v.Timestamp, "Webhook-Signature": v.Signature} {
				if val != "" {
					h.Set(k, val)
				}
			}
			err := signature.Verify(v.Secrets, h, []byte(v.Body), time.Duration(v.Tolerance)*time.Second, time.Unix(v.Now, 0))
			if !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, want)
			}
		})
	}
}

func TestSignerPassesVectors(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if len(v.SignedWith) == 0 {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			sec, err := strconv.ParseInt(v.Timestamp, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			got, err := signature.Sign(v.SignedWith, v.ID, time.Unix(sec, 0), []byte(v.Body))
			if err != nil {
				t.Fatal(err)
			}
			if got != v.Signature {
				t.Fatalf("Sign = %q, want %q", got, v.Signature)
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d signer vectors", n)
	}
}

func TestRoundTrip(t *testing.T) {
	old, cur := signature.NewSecret(), signature.NewSecret()
	if !strings.HasPrefix(cur, "whsec_") || old == cur {
		t.Fatalf("NewSecret = %q, %q", old, cur)
	}
	key, err := signature.ParseSecret(cur)
	if err != nil || len(key) != signature.DefaultKeySize {
		t.Fatalf("ParseSecret: %d bytes, %v", len(key), err)
	}
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"payment.applied"}`)
	h, err := signature.Headers([]string{old, cur}, "evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	// A receiver that knows either secret accepts the delivery.
	for _, secrets := range [][]string{{old}, {cur}, {signature.NewSecret(), cur}} {
		if err := signature.Verify(secrets, h, body, 0, now.Add(time.Minute)); err != nil {
			t.Errorf("Verify with %d secrets: %v", len(secrets), err)
		}
	}
	if err := signature.Verify([]string{signature.NewSecret()}, h, body, 0, now); !errors.Is(err, signature.ErrNoMatch) {
		t.Errorf("Verify with an unrelated secret: %v", err)
	}
	if _, err := signature.ParseSecret("whsec_c2hvcnQ="); !errors.Is(err, signature.ErrBadSecret) {
		t.Errorf("short secret: %v", err)
	}
	if _, err := signature.Sign(nil, "evt_1", now, body); err == nil {
		t.Error("Sign without secrets succeeded")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("msg_1", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Add("", "", "v1, v2,x v1", []byte{})
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(signature.HeaderID, id)
		h.Set(signature.HeaderTimestamp, ts)
		h.Set(signature.HeaderSignature, sig)
		// Must never panic, and never accept a signature it did not make.
		if err := signature.Verify([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, h, body, time.Hour, time.Unix(1614265330, 0)); err == nil {
			want, _ := signature.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, id, time.Unix(mustInt(ts), 0), body)
			if !strings.Contains(sig, strings.TrimPrefix(want, "v1,")) {
				t.Fatalf("accepted %q for id %q ts %q", sig, id, ts)
			}
		}
	})
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
