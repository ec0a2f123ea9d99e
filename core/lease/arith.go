package lease

import (
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// maxTime is the latest credit expiry or due date this package produces;
// later instants do not survive JSON or SQL round trips.
var maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()

// buyUnits returns how many whole units (seconds or Wh) amount buys, and
// the carry left: amount×scale + carry = units×price + carryAfter, with
// 0 ≤ carryAfter < price. amount, carry ≥ 0; scale, price > 0.
func buyUnits(amount, scale, carry, price int64) (units, carryAfter int64, err error) {
	v := new(big.Int).Mul(big.NewInt(amount), big.NewInt(scale))
	v.Add(v, big.NewInt(carry))
	q, r := new(big.Int).QuoRem(v, big.NewInt(price), new(big.Int))
	if !q.IsInt64() {
		return 0, 0, fmt.Errorf("%d minor units buy more than %d units: %w", amount, int64(math.MaxInt64), ErrOverflow)
	}
	return q.Int64(), r.Int64(), nil
}

// removeUnits takes amount's value back out of a balance that holds whole
// units plus carry: the fewest units k such that
// −amount×scale + carry = −k×price + carryAfter with 0 ≤ carryAfter < price.
// It is the inverse of buyUnits over value, so nothing is lost either way.
func removeUnits(amount, scale, carry, price int64) (units, carryAfter int64, err error) {
	v := new(big.Int).Mul(big.NewInt(amount), big.NewInt(scale))
	c := big.NewInt(carry)
	if v.Cmp(c) <= 0 {
		return 0, new(big.Int).Sub(c, v).Int64(), nil
	}
	v.Sub(v, c)
	p := big.NewInt(price)
	q, r := new(big.Int).QuoRem(v, p, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
		r.Sub(p, r)
	}
	if !q.IsInt64() {
		return 0, 0, fmt.Errorf("reversing %d minor units: %w", amount, ErrOverflow)
	}
	return q.Int64(), r.Int64(), nil
}

// valueHolds reports whether amount×scale + before == units×price + after.
func valueHolds(amount, scale, before, units, price, after int64) bool {
	l := new(big.Int).Mul(big.NewInt(amount), big.NewInt(scale))
	l.Add(l, big.NewInt(before))
	r := new(big.Int).Mul(big.NewInt(units), big.NewInt(price))
	r.Add(r, big.NewInt(after))
	return l.Cmp(r) == 0
}

// addSeconds returns t + s seconds, failing beyond year 9999.
func addSeconds(t time.Time, s int64) (time.Time, error) {
	u, ok := core.AddInt64(t.Unix(), s)
	if !ok || u > maxUnix {
		return time.Time{}, fmt.Errorf("%s + %d s: credit expiry beyond year 9999: %w", t.Format(time.RFC3339), s, ErrOverflow)
	}
	return time.Unix(u, 0).UTC(), nil
}

// secondsBetween returns b − a in whole seconds (times are whole seconds).
func secondsBetween(a, b time.Time) int64 { return b.Unix() - a.Unix() }

// satMul returns a×b for a, b ≥ 0, saturated at MaxInt64.
func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// balance adds deltas to int64 fields, remembering the first overflow.
type balance struct{ err error }

func (b *balance) add(dst *int64, d int64, field string) {
	if b.err != nil {
		return
	}
	s, ok := core.AddInt64(*dst, d)
	if !ok {
		b.err = fmt.Errorf("%s: %w", field, ErrOverflow)
		return
	}
	*dst = s
}

// normTime drops sub-second precision, the monotonic reading and the zone:
// ledger times are whole UTC seconds, so they survive any store unchanged.
func normTime(t time.Time) time.Time { return t.Truncate(time.Second).UTC() }

// formatSeconds writes a credit period for people: "7d 00:00:00", "-0d 12:00:00".
func formatSeconds(s int64) string {
	sign := ""
	if s < 0 {
		sign, s = "-", -s
	}
	return fmt.Sprintf("%s%dd %02d:%02d:%02d", sign, s/SecondsPerDay, s%SecondsPerDay/3600, s%3600/60, s%60)
}
