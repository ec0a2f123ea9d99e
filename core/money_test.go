package core

import (
	"errors"
	"math"
	"testing"
)

func TestParseCurrency(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"KES", false},
		{"UGX", false},
		{"kes", true}, // not normalised
		{"KE", true},
		{"KESS", true},
		{"K3S", true},
		{"", true},
		{"ÄBC", true}, // non-ASCII
	}
	for _, tt := range tests {
		c, err := ParseCurrency(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseCurrency(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidCurrency) || ErrorCode(err) != EINVALID {
				t.Errorf("ParseCurrency(%q) error = %v, want ErrInvalidCurrency (EINVALID)", tt.in, err)
			}
			continue
		}
		if string(c) != tt.in {
			t.Errorf("ParseCurrency(%q) = %q", tt.in, c)
		}
	}
}

func TestMoneyArithmetic(t *testing.T) {
	kes := func(a int64) Money { return NewMoney(a, "KES") }
	tests := []struct {
		name    string
		op      func() (Money, error)
		want    Money
		wantErr error
	}{
		{"add", func() (Money, error) { return kes(150).Add(kes(250)) }, kes(400), nil},
		{"add negative", func() (Money, error) { return kes(150).Add(kes(-250)) }, kes(-100), nil},
		{"sub", func() (Money, error) { return kes(150).Sub(kes(250)) }, kes(-100), nil},
		{"neg", func() (Money, error) { return kes(150).Neg() }, kes(-150), nil},
		{"add mismatch", func() (Money, error) { return kes(1).Add(NewMoney(1, "UGX")) }, Money{}, ErrCurrencyMismatch},
		{"sub mismatch", func() (Money, error) { return kes(1).Sub(NewMoney(1, "UGX")) }, Money{}, ErrCurrencyMismatch},
		{"add overflow", func() (Money, error) { return kes(math.MaxInt64).Add(kes(1)) }, Money{}, ErrOverflow},
		{"add underflow", func() (Money, error) { return kes(math.MinInt64).Add(kes(-1)) }, Money{}, ErrOverflow},
		{"sub overflow", func() (Money, error) { return kes(math.MaxInt64).Sub(kes(-1)) }, Money{}, ErrOverflow},
		{"sub underflow", func() (Money, error) { return kes(math.MinInt64).Sub(kes(1)) }, Money{}, ErrOverflow},
		{"neg overflow", func() (Money, error) { return kes(math.MinInt64).Neg() }, Money{}, ErrOverflow},
		{"sub to min", func() (Money, error) { return kes(-1).Sub(kes(math.MaxInt64)) }, kes(math.MinInt64), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.op()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMoneyCmpAndString(t *testing.T) {
	a, b := NewMoney(5, "KES"), NewMoney(7, "KES")
	for _, tt := range []struct {
		x, y Money
		want int
	}{{a, b, -1}, {b, a, 1}, {a, a, 0}} {
		got, err := tt.x.Cmp(tt.y)
		if err != nil || got != tt.want {
			t.Errorf("%v.Cmp(%v) = %d, %v; want %d", tt.x, tt.y, got, err, tt.want)
		}
	}
	if _, err := a.Cmp(NewMoney(5, "TZS")); !errors.Is(err, ErrCurrencyMismatch) {
		t.Errorf("Cmp across currencies: error = %v, want ErrCurrencyMismatch", err)
	}
	if s := NewMoney(12345, "KES").String(); s != "12345 KES" {
		t.Errorf("String = %q", s)
	}
	if !a.IsPositive() || a.IsNegative() || a.IsZero() || !NewMoney(0, "KES").IsZero() {
		t.Error("sign predicates wrong")
	}
}
