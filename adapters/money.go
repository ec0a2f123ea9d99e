package adapters

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/payg-gateway/gateway/core"
)

// exponents maps a currency to its number of minor-unit digits (ISO 4217),
// for the currencies of the markets the gateway serves. It is read-only.
var exponents = map[core.Currency]int{
	"BIF": 0, "CDF": 2, "DJF": 0, "ETB": 2, "EUR": 2, "GBP": 2, "GHS": 2,
	"GNF": 0, "KES": 2, "KMF": 0, "LRD": 2, "MGA": 2, "MWK": 2, "MZN": 2,
	"NGN": 2, "RWF": 0, "SLE": 2, "SSP": 2, "SZL": 2, "TZS": 2, "UGX": 0,
	"USD": 2, "XAF": 0, "XOF": 0, "ZAR": 2, "ZMW": 2,
}

// ErrAmount reports a provider amount that is not a plain non-negative
// decimal with at most the currency's minor-unit digits.
var ErrAmount = errors.New("not an amount")

// MinorUnitExponent returns the number of minor-unit digits of c: 2 for
// KES (cents), 0 for UGX. Unknown currencies are an error rather than a
// guess.
func MinorUnitExponent(c core.Currency) (int, error) {
	e, ok := exponents[c]
	if !ok {
		return 0, fmt.Errorf("%s: minor-unit exponent not known to the adapters", c)
	}
	return e, nil
}

// ParseAmount reads a provider's decimal amount, a string such as "1500",
// "1500.00" or "5.5" (JSON numbers are passed as their literal text), into
// integer minor units of c. It never uses floating point. It accepts only
// ASCII digits with at most one '.', no sign, exponent, spaces or
// separators; fraction digits beyond the currency's exponent must be zero
// ("50000.00" UGX is 50000; "150.005" ZMW is refused).
func ParseAmount(s string, c core.Currency) (core.Money, error) {
	exp, err := MinorUnitExponent(c)
	if err != nil {
		return core.Money{}, err
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return core.Money{}, fmt.Errorf("%q: %w", s, ErrAmount)
	}
	if len(frac) > exp {
		if strings.Trim(frac[exp:], "0") != "" {
			return core.Money{}, fmt.Errorf("%q: more than %d decimals for %s: %w", s, exp, c, ErrAmount)
		}
		frac = frac[:exp]
	}
	frac += strings.Repeat("0", exp-len(frac))
	n, err := strconv.ParseInt(strings.TrimLeft(intPart, "0")+frac, 10, 64)
	if err != nil {
		if strings.Trim(intPart+frac, "0") == "" {
			return core.NewMoney(0, c), nil
		}
		return core.Money{}, fmt.Errorf("%q: %w", s, core.ErrOverflow)
	}
	return core.NewMoney(n, c), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount writes m as a plain decimal in major units with no trailing
// fraction zeros: 50000 UGX is "50000", 150000 KES is "1500", 1250 KES is
// "12.5", 1205 KES is "12.05". Negative amounts are an error.
func FormatAmount(m core.Money) (string, error) {
	exp, err := MinorUnitExponent(m.Currency)
	if err != nil {
		return "", err
	}
	if m.Amount < 0 {
		return "", fmt.Errorf("%s: negative amount", m)
	}
	s := strconv.FormatInt(m.Amount, 10)
	if exp == 0 {
		return s, nil
	}
	if len(s) <= exp {
		s = strings.Repeat("0", exp-len(s)+1) + s
	}
	whole, frac := s[:len(s)-exp], strings.TrimRight(s[len(s)-exp:], "0")
	if frac == "" {
		return whole, nil
	}
	return whole + "." + frac, nil
}

// WholeMajorUnits returns m in whole major units (KES 1500 for 150000
// minor units) and an error if m has a fractional part or is negative.
// M-Pesa accepts whole shillings only.
func WholeMajorUnits(m core.Money) (int64, error) {
	exp, err := MinorUnitExponent(m.Currency)
	if err != nil {
		return 0, err
	}
	if m.Amount < 0 {
		return 0, fmt.Errorf("%s: negative amount", m)
	}
	div := int64(1)
	for range exp {
		div *= 10
	}
	if m.Amount%div != 0 {
		return 0, fmt.Errorf("%s: not a whole number of %s", m, m.Currency)
	}
	return m.Amount / div, nil
}
