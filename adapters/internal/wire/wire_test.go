package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	var v struct {
		A, B, C, D Text
	}
	if err := json.Unmarshal([]byte(`{"A":"1500.00","B":1500.00,"C":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != (Text{S: "1500.00", Present: true}) || v.B != (Text{S: "1500.00", Present: true, Number: true}) || v.C.Present || v.D.Present {
		t.Errorf("%+v", v)
	}
	if err := json.Unmarshal([]byte(`{"A":254700000123}`), &v); err != nil || v.A.S != "254700000123" {
		t.Errorf("large number: %+v, %v", v.A, err)
	}
	for _, bad := range []string{`{"A":true}`, `{"A":{}}`, `{"A":[1]}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestItems(t *testing.T) {
	for _, raw := range []string{
		`{"ResultParameter":[{"Key":"Amount","Value":1500},{"Key":"ReceiptNo","Value":"X"}]}`,
		`[{"Key":"Amount","Value":1500},{"Key":"ReceiptNo","Value":"X"},{"Key":"Amount","Value":1}]`,
		`[{"Name":"Amount","Value":1500},{"Name":"ReceiptNo","Value":"X"},{"Name":"Balance"}]`,
	} {
		m, err := Items(json.RawMessage(raw), "ResultParameter")
		if err != nil || m["Amount"].S != "1500" || m["ReceiptNo"].S != "X" {
			t.Errorf("%s: %v, %v", raw, m, err)
		}
	}
	m, err := Items(json.RawMessage(`{"ResultParameter":{"Key":"Amount","Value":"10"}}`), "ResultParameter")
	if err != nil || m["Amount"].S != "10" {
		t.Errorf("single object: %v, %v", m, err)
	}
	if m, err := Items(nil); err != nil || len(m) != 0 {
		t.Errorf("nil: %v, %v", m, err)
	}
	if _, err := Items(json.RawMessage(`7`)); err == nil {
		t.Error("a number is not a list of items")
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("a", MaxText-1) + "é" // é straddles the limit
	for _, tc := range []struct{ in, want string }{
		{"delivered", "delivered"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{long, strings.Repeat("a", MaxText-1)},
		{strings.Repeat("b", MaxText+50), strings.Repeat("b", MaxText)},
	} {
		got := Clip(tc.in)
		if got != tc.want || len(got) > MaxText || !utf8.ValidString(got) {
			t.Errorf("Clip(%.20q…) = %.20q… (%d bytes), want %.20q…", tc.in, got, len(got), tc.want)
		}
	}
}
