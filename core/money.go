package core

import (
	"fmt"
	"math"
)

// Currency is an ISO 4217 alphabetic code such as KES, UGX or NGN: exactly
// three upper-case ASCII letters. The zero value is not a valid currency.
type Currency string

// Money errors. They are *Error values so the HTTP layer maps them through
// ErrorCode; compare with errors.Is and do not modify them.
var (
	// ErrInvalidCurrency reports a code that is not three upper-case letters.
	ErrInvalidCurrency = &Error{Code: EINVALID, Message: "currency must be an ISO 4217 code of three upper-case letters"}
	// ErrCurrencyMismatch reports arithmetic or a comparison across two
	// currencies. Money is never converted.
	ErrCurrencyMismatch = &Error{Code: EINVALID, Message: "currency mismatch"}
	// ErrOverflow reports an amount that does not fit in an int64 of minor units.
	ErrOverflow = &Error{Code: EINVALID, Message: "amount out of range"}
)

// ParseCurrency returns s as a Currency if it is three upper-case ASCII
// letters. It does not change case: "kes" is rejected, so a typo cannot
// silently become a different stored value.
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if err := c.Validate(); err != nil {
		return "", err
	}
	return c, nil
}

// Validate reports whether c is three upper-case ASCII letters. It does not
// check membership in the ISO 4217 list, which changes over time.
func (c Currency) Validate() error {
	if len(c) != 3 {
		return fmt.Errorf("core: currency %q: %w", string(c), ErrInvalidCurrency)
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return fmt.Errorf("core: currency %q: %w", string(c), ErrInvalidCurrency)
		}
	}
	return nil
}

// Money is an amount in integer minor units of a currency (cents for KES,
// whole shillings for UGX, which has no minor unit). There are no floats.
type Money struct {
	Amount   int64    `json:"amount"`
	Currency Currency `json:"currency"`
}

// NewMoney returns amount minor units of c.
func NewMoney(amount int64, c Currency) Money { return Money{Amount: amount, Currency: c} }

// String formats m as "<minor units> <currency>", e.g. "12345 KES". It does
// not place a decimal point: the exponent differs between currencies.
func (m Money) String() string { return fmt.Sprintf("%d %s", m.Amount, m.Currency) }

// IsZero reports whether the amount is zero, whatever the currency.
func (m Money) IsZero() bool { return m.Amount == 0 }

// IsPositive reports whether the amount is greater than zero.
func (m Money) IsPositive() bool { return m.Amount > 0 }

// IsNegative reports whether the amount is less than zero.
func (m Money) IsNegative() bool { return m.Amount < 0 }

// SameCurrency returns an error wrapping ErrCurrencyMismatch unless m and o
// are in the same currency.
func (m Money) SameCurrency(o Money) error {
	if m.Currency != o.Currency {
		return fmt.Errorf("core: %s and %s: %w", m.Currency, o.Currency, ErrCurrencyMismatch)
	}
	return nil
}

// Add returns m + o. It fails with ErrCurrencyMismatch if the currencies
// differ and with ErrOverflow if the sum does not fit in an int64.
func (m Money) Add(o Money) (Money, error) {
	if err := m.SameCurrency(o); err != nil {
		return Money{}, fmt.Errorf("core: add: %w", err)
	}
	s, ok := AddInt64(m.Amount, o.Amount)
	if !ok {
		return Money{}, fmt.Errorf("core: add %s to %s: %w", o, m, ErrOverflow)
	}
	return Money{Amount: s, Currency: m.Currency}, nil
}

// Sub returns m - o. It fails with ErrCurrencyMismatch if the currencies
// differ and with ErrOverflow if the difference does not fit in an int64.
func (m Money) Sub(o Money) (Money, error) {
	if err := m.SameCurrency(o); err != nil {
		return Money{}, fmt.Errorf("core: sub: %w", err)
	}
	d, ok := SubInt64(m.Amount, o.Amount)
	if !ok {
		return Money{}, fmt.Errorf("core: sub %s from %s: %w", o, m, ErrOverflow)
	}
	return Money{Amount: d, Currency: m.Currency}, nil
}

// Neg returns -m; it fails with ErrOverflow for the most negative int64.
func (m Money) Neg() (Money, error) {
	if m.Amount == math.MinInt64 {
		return Money{}, fmt.Errorf("core: negate %s: %w", m, ErrOverflow)
	}
	return Money{Amount: -m.Amount, Currency: m.Currency}, nil
}

// Cmp compares m and o: -1 if m < o, 0 if equal, +1 if m > o. It fails with
// ErrCurrencyMismatch if the currencies differ.
func (m Money) Cmp(o Money) (int, error) {
	if err := m.SameCurrency(o); err != nil {
		return 0, fmt.Errorf("core: compare: %w", err)
	}
	switch {
	case m.Amount < o.Amount:
		return -1, nil
	case m.Amount > o.Amount:
		return 1, nil
	}
	return 0, nil
}

// AddInt64 returns a + b and false if the sum overflows an int64.
func AddInt64(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// SubInt64 returns a - b and false if the difference overflows an int64.
func SubInt64(a, b int64) (int64, bool) {
	d := a - b
	if (b > 0 && d > a) || (b < 0 && d < a) {
		return 0, false
	}
	return d, true
}
