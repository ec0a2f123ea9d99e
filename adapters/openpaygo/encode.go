package openpaygo

import (
	"fmt"
	"strconv"
)

// Encode issues a standard token (9 digits, or 15 in the restricted digit
// set).
//
// count is the server's stored count for the device: the count of the last
// token issued. value is the raw activation value (days × divider, see
// RawValue), 0..995 for AddTime and SetTime, and must be 0 for DisablePAYG
// and CounterSync. Encode returns the token and the new count, which the
// caller must store atomically with issuing the token. ADD_TIME tokens use
// the next even count and all other types the next odd count.
//
// Encoding costs one SipHash per count, so it grows linearly with count.
func (d Device) Encode(typ TokenType, value, count int) (token string, newCount int, err error) {
	return d.encode(typ, value, count, false)
}

// EncodeExtended issues an extended token (12 digits, or 20 in the
// restricted digit set) whose value may be 0..999 999. It is otherwise like
// Encode. Extended DISABLE_PAYG and COUNTER_SYNC tokens carry 998 and 999
// like standard ones, but the device reads them back as SET_TIME.
func (d Device) EncodeExtended(typ TokenType, value, count int) (token string, newCount int, err error) {
	return d.encode(typ, value, count, true)
}

func (d Device) encode(typ TokenType, value, count int, extended bool) (string, int, error) {
	if err := d.validate(); err != nil {
		return "", 0, err
	}
	raw, err := encodedValue(typ, value, extended)
	if err != nil {
		return "", 0, err
	}
	newCount, err := nextCount(typ, count)
	if err != nil {
		return "", 0, err
	}
	return d.token(raw, newCount, extended), newCount, nil
}

// token returns the token carrying raw at count n. It does no checks.
func (d Device) token(raw uint64, n int, extended bool) string {
	c := newChain(d.Key, extended)
	mod := c.mod()
	sc := uint64(d.StartingCode)
	base := (sc%mod + raw) % mod
	code := sc - sc%mod + base
	for range n {
		code = c.next(code)
	}
	return render(code-code%mod+base, extended, d.Restricted)
}

// encodedValue checks value for typ and returns the number the token
// carries.
func encodedValue(typ TokenType, value int, extended bool) (uint64, error) {
	switch typ {
	case AddTime, SetTime:
		limit := MaxValue
		if extended {
			limit = MaxExtendedValue
		}
		if value < 0 || value > limit {
			return 0, fmt.Errorf("%w: %d (want 0..%d for %v)", ErrValueOutOfRange, value, limit, typ)
		}
		return uint64(value), nil
	case DisablePAYG, CounterSync:
		if value != 0 {
			return 0, fmt.Errorf("%w: %d (%v takes no value)", ErrValueOutOfRange, value, typ)
		}
		if typ == DisablePAYG {
			return DisablePAYGValue, nil
		}
		return CounterSyncValue, nil
	default:
		return 0, fmt.Errorf("%w: cannot encode %v", ErrInvalidTokenType, typ)
	}
}

// nextCount returns the count of the next token of type typ after the
// stored count: the next even number for ADD_TIME, the next odd one
// otherwise.
func nextCount(typ TokenType, count int) (int, error) {
	if count < 0 || count >= MaxCount {
		return 0, fmt.Errorf("%w: %d (want 0..%d)", ErrCountOutOfRange, count, MaxCount-1)
	}
	n := count + 1
	if (n%2 == 0) != (typ == AddTime) {
		if n == MaxCount {
			return 0, fmt.Errorf("%w: next %v count after %d exceeds %d", ErrCountOutOfRange, typ, count, MaxCount)
		}
		n++
	}
	return n, nil
}

// render writes the final token number as a string.
func render(t uint64, extended, restricted bool) string {
	digits, bits := 9, 30
	if extended {
		digits, bits = 12, 40
	}
	if !restricted {
		s := strconv.FormatUint(t, 10)
		for len(s) < digits {
			s = "0" + s
		}
		return s
	}
	// Restricted: the number as bits, most significant first, two bits per
	// digit, each written as 1..4.
	out := make([]byte, bits/2)
	for i := range out {
		shift := bits - 2*(i+1)
		out[i] = '1' + byte(t>>shift&3)
	}
	return string(out)
}
