package openpaygo

import (
	"math/rand/v2"
	"testing"
)

// randomDevice returns a device with a random key, starting code, divider
// and digit set.
func randomDevice(r *rand.Rand) Device {
	var k Key
	for i := range k {
		k[i] = byte(r.UintN(256))
	}
	return Device{
		Key:          k,
		StartingCode: r.IntN(MaxStartingCode + 1),
		ValueDivider: 1 + r.IntN(MaxValueDivider),
		Restricted:   r.IntN(2) == 0,
	}
}

// randomRequest picks a token type and a value valid for it.
func randomRequest(r *rand.Rand, extended bool) (TokenType, int) {
	typ := []TokenType{AddTime, SetTime, DisablePAYG, CounterSync}[r.IntN(4)]
	switch typ {
	case DisablePAYG, CounterSync:
		return typ, 0
	}
	limit := MaxValue
	if extended {
		limit = MaxExtendedValue
	}
	// Favour the edges of the range.
	switch r.IntN(4) {
	case 0:
		return typ, 0
	case 1:
		return typ, limit
	}
	return typ, r.IntN(limit + 1)
}

// decodedAs returns the type and raw value a device reads back for a token
// encoded as typ with value.
func decodedAs(typ TokenType, value int, extended bool) (TokenType, int) {
	switch typ {
	case DisablePAYG:
		value = DisablePAYGValue
	case CounterSync:
		value = CounterSyncValue
	}
	if extended && typ != AddTime {
		typ = SetTime // extended tokens only know even (ADD) and odd (SET)
	}
	return typ, value
}

// TestRoundTrip encodes random tokens for random devices and checks that a
// device in sync with the server decodes them to the same type, value and
// count, that a replay is refused, and that the next token is accepted.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 7))
	const devices = 300
	for i := range devices {
		d := randomDevice(r)
		stored := r.IntN(3000)
		if i%50 == 0 {
			stored = 60_000 + r.IntN(10)
		}
		s := InitialState(stored)
		for range 5 {
			extended := r.IntN(4) == 0
			typ, value := randomRequest(r, extended)
			encode := d.Encode
			if extended {
				encode = d.EncodeExtended
			}
			token, n, err := encode(typ, value, stored)
			if err != nil {
				t.Fatalf("device %d: encode(%v, %d, %d): %v", i, typ, value, stored, err)
			}
			wantType, wantValue := decodedAs(typ, value, extended)

			res, err := d.Decode(token, s)
			if err != nil {
				t.Fatalf("device %d: decode %s: %v", i, token, err)
			}
			if res.Type != wantType || res.Value != wantValue || res.Count != n || res.Extended != extended {
				t.Fatalf("device %+v: %v value %d at stored count %d (extended %v) = %s, decoded as %+v; want %v value %d count %d",
					d, typ, value, stored, extended, token, res, wantType, wantValue, n)
			}
			if want := float64(wantValue) / float64(d.ValueDivider); res.Days != want {
				t.Fatalf("device %d: Days = %v, want %v", i, res.Days, want)
			}
			s = s.Apply(res)
			stored = n

			// A replay is refused, except that a standard counter-sync token
			// may be entered again.
			again, err := d.Decode(token, s)
			if err != nil {
				t.Fatal(err)
			}
			if wantType == CounterSync {
				if again.Type != CounterSync || again.Count != n {
					t.Fatalf("device %d: counter sync replay = %+v", i, again)
				}
			} else if again.Type != AlreadyUsed {
				t.Fatalf("device %d: replay of %v token %s = %+v, want ALREADY_USED", i, typ, token, again)
			}
		}
	}
}

// TestUnorderedAddTime issues several ADD_TIME tokens and enters them in
// reverse order: all are accepted once, since they lie within 16 counts. A
// SET_TIME token then retires an older ADD_TIME token never entered.
func TestUnorderedAddTime(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		d := randomDevice(r)
		stored := r.IntN(1000)
		s := InitialState(stored)
		var tokens []string
		var counts []int
		for range 8 { // counts stored+1 .. stored+16
			token, n, err := d.Encode(AddTime, 1+r.IntN(MaxValue), stored)
			if err != nil {
				t.Fatal(err)
			}
			tokens, counts, stored = append(tokens, token), append(counts, n), n
		}
		// Enter all but the oldest, newest first.
		for j := len(tokens) - 1; j >= 1; j-- {
			res, err := d.Decode(tokens[j], s)
			if err != nil || res.Type != AddTime || res.Count != counts[j] {
				t.Fatalf("device %d: token %d (count %d) = %+v, %v", i, j, counts[j], res, err)
			}
			s = s.Apply(res)
		}
		if s.LastCount != counts[len(counts)-1] {
			t.Fatalf("LastCount = %d, want %d", s.LastCount, counts[len(counts)-1])
		}
		for j := 1; j < len(tokens); j++ {
			if res, err := d.Decode(tokens[j], s); err != nil || res.Type != AlreadyUsed {
				t.Fatalf("device %d: replay of token %d = %+v, %v", i, j, res, err)
			}
		}
		// The oldest is still acceptable (a decode does not change s)...
		if res, err := d.Decode(tokens[0], s); err != nil || res.Type != AddTime {
			t.Fatalf("device %d: oldest token before SET_TIME = %+v, %v", i, res, err)
		}
		// ...until a SET_TIME token retires every older count.
		set, _, err := d.Encode(SetTime, 0, stored)
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Decode(set, s)
		if err != nil || res.Type != SetTime {
			t.Fatalf("device %d: set = %+v, %v", i, res, err)
		}
		s = s.Apply(res)
		if res, err := d.Decode(tokens[0], s); err != nil || res.Type != AlreadyUsed {
			t.Fatalf("device %d: oldest token after SET_TIME = %+v, %v", i, res, err)
		}
	}
}
