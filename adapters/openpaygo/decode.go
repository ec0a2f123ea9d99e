package openpaygo

import (
	"fmt"
	"slices"
)

// State is what a device remembers between tokens.
type State struct {
	// LastCount is the count of the last token the device accepted.
	LastCount int
	// UsedCounts lists the counts already used near the top of the count
	// range, as returned in Result.UsedCounts. Entries more than 16 below
	// the highest count carry no information and may be negative. An empty
	// list means no history is known: LastCount and the 16 counts below it
	// are then treated as used (the reference instead stops tracking; see
	// the package documentation).
	UsedCounts []int
}

// InitialState returns the state of a new device whose count starts at
// count. No valid token exists at count or below, so count and the 16
// counts below it are marked as used (lower ones are out of reach anyway).
// The test vectors seed the list with count alone, which would let a token
// at a lower count, such as a count-0 token that anyone who knows the
// starting code can compute, be accepted once.
func InitialState(count int) State {
	return State{LastCount: count, UsedCounts: countRange(count-unorderedEntryDepth, count)}
}

// Apply returns the state after the device has processed r. Results that
// were not accepted leave the state unchanged. LastCount never goes
// backwards, not even for a counter-sync token below it (the C reference
// behaves the same; the Python reference simulator lowers the count).
func (s State) Apply(r Result) State {
	if !r.Accepted() {
		return s
	}
	return State{
		LastCount:  max(s.LastCount, r.Count),
		UsedCounts: slices.Clone(r.UsedCounts),
	}
}

// Result is the outcome of decoding a token.
type Result struct {
	// Type is the token type, or Invalid or AlreadyUsed.
	Type TokenType
	// Value is the raw value, for accepted tokens only: activation units
	// for ADD_TIME and SET_TIME, 998 for DISABLE_PAYG, 999 for
	// COUNTER_SYNC.
	Value int
	// Days is Value divided by the value divider, as the reference
	// returns it. Check Type before using it: a DISABLE_PAYG token with
	// divider 4 gives 249.5.
	Days float64
	// Count is the count the token was issued at, for accepted tokens only.
	Count int
	// Extended reports an extended (12- or 20-digit) token.
	Extended bool
	// UsedCounts is the updated used-count list, for accepted tokens only,
	// in ascending order. Store it with the new state (see State.Apply).
	UsedCounts []int
}

// Accepted reports whether the device accepted the token.
func (r Result) Accepted() bool {
	switch r.Type {
	case AddTime, SetTime, DisablePAYG, CounterSync:
		return true
	}
	return false
}

// Decode checks token the way a device in state s does. A token that
// matches no count in the window decodes as Invalid, and one that matches
// only counts the device must not accept again decodes as AlreadyUsed;
// neither is an error. Decode returns an error, with an Invalid result, only
// for bad input: device parameters or state out of range, or a token that
// is not 9 or 12 digits (15 or 20 digits 1-4 in restricted mode), wrapping
// ErrMalformedToken.
//
// The device searches counts 0 to top+64 (top+100 for a standard token of
// value 999), where top = max(s.LastCount, max(s.UsedCounts)). The type
// follows from the parity of the matching count: even is ADD_TIME, odd is
// SET_TIME, or DISABLE_PAYG / COUNTER_SYNC for values 998 / 999 on
// standard tokens. The first matching count that is acceptable wins:
// a COUNTER_SYNC token above top-64 (even below top, and again and again),
// any token above top, or an unused ADD_TIME count above top-16.
//
// Decoding costs one SipHash per count searched, so it grows linearly with
// the device count.
func (d Device) Decode(token string, s State) (Result, error) {
	invalid := Result{Type: Invalid}
	if err := d.validate(); err != nil {
		return invalid, err
	}
	top, err := s.top()
	if err != nil {
		return invalid, err
	}
	t, extended, err := parseToken(token, d.Restricted)
	if err != nil {
		return invalid, err
	}
	invalid.Extended = extended

	c := newChain(d.Key, extended)
	mod := c.mod()
	sc := uint64(d.StartingCode)
	base := t % mod
	value := int((base + mod - sc%mod) % mod)
	special := !extended && (value == DisablePAYGValue || value == CounterSyncValue)

	jump := maxTokenJump
	if !extended && value == CounterSyncValue {
		jump = maxCounterSyncJump
	}
	limit := MaxCount
	if top <= MaxCount-jump {
		limit = top + jump
	}
	used := s.UsedCounts
	if len(used) == 0 {
		used = countRange(s.LastCount-unorderedEntryDepth, s.LastCount)
	}

	code := sc - sc%mod + base
	matchedUsed := false
	for count := 0; ; count++ {
		if code-code%mod+base == t {
			typ := typeFor(count, value, extended)
			if acceptable(count, top, typ, used) {
				return Result{
					Type:       typ,
					Value:      value,
					Days:       float64(value) / float64(d.divider()),
					Count:      count,
					Extended:   extended,
					UsedCounts: updateUsed(used, count, typ != AddTime || special),
				}, nil
			}
			matchedUsed = true
		}
		if count >= limit {
			break
		}
		code = c.next(code)
	}
	if matchedUsed {
		return Result{Type: AlreadyUsed, Extended: extended}, nil
	}
	return invalid, nil
}

// top returns the highest count the device has seen, after checking the
// state.
func (s State) top() (int, error) {
	if s.LastCount < 0 || s.LastCount > MaxCount {
		return 0, fmt.Errorf("%w: last count %d (want 0..%d)", ErrCountOutOfRange, s.LastCount, MaxCount)
	}
	top := s.LastCount
	for _, u := range s.UsedCounts {
		if u < -MaxCount || u > MaxCount {
			return 0, fmt.Errorf("%w: used count %d (want %d..%d)", ErrCountOutOfRange, u, -MaxCount, MaxCount)
		}
		top = max(top, u)
	}
	return top, nil
}

// parseToken reads a token string. The length selects the form: 9 or 12
// decimal digits, or 15 or 20 digits 1-4 in the restricted digit set.
func parseToken(token string, restricted bool) (t uint64, extended bool, err error) {
	if restricted {
		switch len(token) {
		case 15:
		case 20:
			extended = true
		default:
			return 0, false, fmt.Errorf("%w: %d digits (want 15 or 20 digits 1-4)", ErrMalformedToken, len(token))
		}
		for i := range len(token) {
			ch := token[i]
			if ch < '1' || ch > '4' {
				return 0, false, fmt.Errorf("%w: character %q at position %d (want digits 1-4)", ErrMalformedToken, ch, i+1)
			}
			t = t<<2 | uint64(ch-'1')
		}
		return t, extended, nil
	}
	switch len(token) {
	case 9:
	case 12:
		extended = true
	default:
		return 0, false, fmt.Errorf("%w: %d digits (want 9 or 12)", ErrMalformedToken, len(token))
	}
	for i := range len(token) {
		ch := token[i]
		if ch < '0' || ch > '9' {
			return 0, false, fmt.Errorf("%w: character %q at position %d (want digits)", ErrMalformedToken, ch, i+1)
		}
		t = t*10 + uint64(ch-'0')
	}
	return t, extended, nil
}

// typeFor returns the type of a token matched at count.
func typeFor(count, value int, extended bool) TokenType {
	switch {
	case count%2 == 0:
		return AddTime
	case extended:
		return SetTime
	case value == CounterSyncValue:
		return CounterSync
	case value == DisablePAYGValue:
		return DisablePAYG
	default:
		return SetTime
	}
}

// acceptable reports whether a token matched at count may be accepted by a
// device whose highest count is top.
func acceptable(count, top int, typ TokenType, used []int) bool {
	switch {
	case typ == CounterSync:
		// Counter sync may be replayed and may move back, within 64 counts.
		return count > top-maxTokenJump
	case count > top:
		return true
	default:
		// Unordered entry of recent, unused ADD_TIME tokens.
		return typ == AddTime && count > top-unorderedEntryDepth && !slices.Contains(used, count)
	}
}

// updateUsed returns the used counts after accepting count. retireAll is
// set for tokens that retire every older count (SET_TIME, DISABLE_PAYG,
// COUNTER_SYNC, and standard tokens of value 998 or 999).
func updateUsed(used []int, count int, retireAll bool) []int {
	hi := max(slices.Max(used), count)
	if retireAll {
		return countRange(hi-unorderedEntryDepth, hi)
	}
	out := make([]int, 0, unorderedEntryDepth+1)
	for _, c := range countRange(hi-unorderedEntryDepth, hi) {
		if c == count || slices.Contains(used, c) {
			out = append(out, c)
		}
	}
	return out
}

// countRange returns the integers lo..hi, for lo <= hi. It counts up from
// lo rather than comparing against hi, so hi may be the largest int.
func countRange(lo, hi int) []int {
	out := make([]int, hi-lo+1)
	for i := range out {
		out[i] = lo + i
	}
	return out
}
