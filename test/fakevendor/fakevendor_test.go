package fakevendor

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// One idempotency key gets one code, however often it is sent; requests
// without a key each mint one.
func TestSameKeySameCode(t *testing.T) {
	v := New(Options{IdempotencyHeader: "Idempotency-Key", Shape: Shape{
		Success: func(code string) (int, []byte) { return http.StatusOK, []byte(`{"token":"` + code + `"}`) },
	}})
	defer v.Close()
	post := func(key string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, v.URL()+"/token", strings.NewReader(`{}`))
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	a, b, c := post("k1"), post("k1"), post("k2")
	if a != b || a == c {
		t.Errorf("k1 %s, k1 again %s, k2 %s", a, b, c)
	}
	if post("") == post("") {
		t.Error("two requests without a key got one code")
	}
	if n := len(v.Minted()); n != 4 {
		t.Errorf("minted %d codes, want 4", n)
	}
	v.Set(Fail)
	if got := post("k3"); !strings.Contains(got, "internal error") {
		t.Errorf("in Fail mode: %s", got)
	}
	if n := len(v.Minted()); n != 4 || len(v.Requests()) != 6 {
		t.Errorf("after a failure: %d minted, %d requests", n, len(v.Requests()))
	}
}
