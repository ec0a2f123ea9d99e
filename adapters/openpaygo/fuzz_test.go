package openpaygo

import (
	"errors"
	"slices"
	"testing"
)

// FuzzDecode feeds arbitrary tokens and small device states to the decoder.
// It must never panic; errors must be ErrMalformedToken with an INVALID
// result; accepted results must be in range and must re-encode to the same
// token.
func FuzzDecode(f *testing.F) {
	for _, seed := range []struct {
		token      string
		restricted bool
		last       uint8
	}{
		{"662486790", false, 0},
		{"123456789", false, 0},
		{"573015469134", false, 0},
		{"324244134441123", true, 0},
		{"33131421441234431131", true, 1},
		{"942433796", false, 4},
		{"", false, 0},
		{"12345678a", false, 0},
		{"999999999", false, 200},
		{"000000000000", false, 3},
		{"444444444444444", true, 9},
	} {
		f.Add(seed.token, seed.restricted, seed.last, false)
	}
	key := Key{0xa2, 0x9a, 0xb8, 0x2e, 0xdc, 0x5f, 0xbb, 0xc4, 0x1e, 0xc9, 0x53, 0x0f, 0x6d, 0xac, 0x86, 0xb1}

	f.Fuzz(func(t *testing.T, token string, restricted bool, last uint8, emptyUsed bool) {
		d := Device{Key: key, StartingCode: 123456789, ValueDivider: 4, Restricted: restricted}
		s := InitialState(int(last))
		if emptyUsed {
			s.UsedCounts = nil
		}
		res, err := d.Decode(token, s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("unexpected error %v", err)
			}
			if res.Type != Invalid {
				t.Fatalf("error with result %+v", res)
			}
			return
		}
		switch res.Type {
		case Invalid, AlreadyUsed:
			if res.Value != 0 || res.Count != 0 || res.UsedCounts != nil {
				t.Fatalf("%v result carries data: %+v", res.Type, res)
			}
			return
		case AddTime, SetTime, DisablePAYG, CounterSync:
		default:
			t.Fatalf("unknown type %v", res.Type)
		}

		limit := int(last) + 64
		if !res.Extended && res.Value == CounterSyncValue {
			limit = int(last) + 100
		}
		if res.Count < 0 || res.Count > limit {
			t.Fatalf("count %d outside window (last %d)", res.Count, last)
		}
		if (res.Count%2 == 0) != (res.Type == AddTime) {
			t.Fatalf("type %v at count %d", res.Type, res.Count)
		}
		if !slices.IsSorted(res.UsedCounts) || slices.Max(res.UsedCounts) != max(res.Count, int(last)) {
			t.Fatalf("used counts %v after count %d (last %d)", res.UsedCounts, res.Count, last)
		}
		// Only a counter sync may go below the device count, and then it
		// retires every count up to the old top anyway.
		if res.Count <= int(last) && res.Type != CounterSync && res.Type != AddTime {
			t.Fatalf("%v accepted at count %d, last %d", res.Type, res.Count, last)
		}
		if !slices.Contains(res.UsedCounts, res.Count) && res.Count > int(last)-16 {
			t.Fatalf("used counts %v do not hold count %d", res.UsedCounts, res.Count)
		}
		if got := d.token(uint64(res.Value), res.Count, res.Extended); got != token {
			t.Fatalf("accepted %q as %+v, which re-encodes to %q", token, res, got)
		}
	})
}
