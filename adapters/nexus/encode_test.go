package nexus

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

var deadbeef = bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4)

// TestReferenceReadme checks the examples in the reference encoder's README
// (key deadbeef×4). Some of them are not in vectors.csv.
func TestReferenceReadme(t *testing.T) {
	full, err := NewFullEncoder(deadbeef)
	if err != nil {
		t.Fatal(err)
	}
	small, err := NewSmallEncoder(deadbeef)
	if err != nil {
		t.Fatal(err)
	}
	must := func(s string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name, got, want string
	}{
		{"full add", must(full.AddCredit(42, 24*7)), "*599 791 493 194 43#"},
		{"full set", must(full.SetCredit(43, 24*10)), "*682 070 357 093 12#"},
		{"full unlock", full.Unlock(44), "*578 396 697 305 45#"},
		{"full wipe", must(full.WipeState(45, WipeIDsAll)), "*356 107 776 307 38#"},
		{"factory allow test", EncodeFactoryAllowTest(), "*406 498 3#"},
		{"factory display payg id", EncodeFactoryDisplayPAYGID(), "*634 776 5#"},
		{"factory oqc 60", must(EncodeFactoryOQCTest(60)), "*500 060 694 509#"},
		{"small add", must(small.AddCredit(42, 7)), "135 242 422 455 244"},
		{"small set", must(small.SetCredit(44, 10)), "142 522 332 234 533"},
		{"small unlock", small.Unlock(45), "152 323 254 454 322"},
		{"small maintenance", must(small.Maintenance(MaintenanceWipeIDsAll)), "122 324 235 545 545"},
		{"small custom", must(small.CustomCommand(46, CustomWipeRestrictedFlag)), "154 545 254 542 523"},
		{"small extended", must(small.ExtendedSetCreditWipeRestrictedFlag(51, 84)), "145 545 244 442 435"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestExtendedIDCollision(t *testing.T) {
	small, err := NewSmallEncoder(deadbeef)
	if err != nil {
		t.Fatal(err)
	}
	// From the reference README: id 50 collides, 51 is the next valid id.
	_, err = small.ExtendedSetCreditWipeRestrictedFlag(50, 84)
	var ce *IDCollisionError
	if !errors.As(err, &ce) {
		t.Fatalf("id 50: err = %v, want *IDCollisionError", err)
	}
	if ce.ID != 50 || ce.Next != 51 {
		t.Errorf("collision error = %+v, want ID 50, Next 51", ce)
	}
	if !strings.HasPrefix(err.Error(), "nexus: ") || !strings.Contains(err.Error(), "next usable id is 51") {
		t.Errorf("error text %q", err)
	}
}

func TestSmallSetCreditLegacyCollision(t *testing.T) {
	small, err := NewSmallEncoder(deadbeef)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint32{63, 127, 4095} {
		_, err := small.SetCredit(id, 1)
		var ce *IDCollisionError
		if !errors.As(err, &ce) || ce.Next != id+1 {
			t.Errorf("SetCredit(%d, 1): err = %v, want *IDCollisionError with Next %d", id, err, id+1)
		}
		if _, err := small.SetCredit(id+1, 1); err != nil {
			t.Errorf("SetCredit(%d, 1): %v", id+1, err)
		}
		if _, err := small.SetCredit(id, 2); err != nil {
			t.Errorf("SetCredit(%d, 2): %v", id, err)
		}
	}
	_, err = small.SetCredit(math.MaxUint32, 1)
	var ce *IDCollisionError
	if !errors.As(err, &ce) || ce.Next != 0 {
		t.Errorf("SetCredit(MaxUint32, 1): err = %v, want *IDCollisionError without Next", err)
	}
}

// TestSmallDayRounding checks the non-linear small-protocol day scale.
func TestSmallDayRounding(t *testing.T) {
	small, err := NewSmallEncoder(deadbeef)
	if err != nil {
		t.Fatal(err)
	}
	pairs := []struct {
		name string
		enc  func(uint32, int) (string, error)
		a, b int
	}{
		{"ADD", small.AddCredit, 182, 181},
		{"ADD", small.AddCredit, 183, 181},
		{"SET", small.SetCredit, 92, 91},
		{"SET", small.SetCredit, 736, 721},
	}
	for _, p := range pairs {
		a, errA := p.enc(100, p.a)
		b, errB := p.enc(100, p.b)
		if errA != nil || errB != nil || a != b {
			t.Errorf("%s %d days = %q, %v; want same as %d days %q, %v", p.name, p.a, a, errA, p.b, b, errB)
		}
	}
	// Locking: SET_CREDIT 0 days is body 254.
	if body, err := smallSetCreditBody(0); err != nil || body != 254 {
		t.Errorf("smallSetCreditBody(0) = %d, %v; want 254", body, err)
	}
	// The largest amounts stay clear of the reserved bodies 240..255.
	if body, _ := smallSetCreditBody(MaxSmallSetDays); body >= 240 {
		t.Errorf("smallSetCreditBody(%d) = %d, want < 240", MaxSmallSetDays, body)
	}
	if body, _ := smallAddCreditBody(MaxSmallAddDays); body != 254 {
		t.Errorf("smallAddCreditBody(%d) = %d, want 254", MaxSmallAddDays, body)
	}
}

func TestEncodeErrors(t *testing.T) {
	full, _ := NewFullEncoder(deadbeef)
	small, _ := NewSmallEncoder(deadbeef)
	errOf := func(_ string, err error) error { return err }
	_, keyErr := NewFullEncoder(deadbeef[:15])
	_, smallKeyErr := NewSmallEncoder(append(deadbeef, 0))
	tests := []struct {
		name string
		err  error
	}{
		{"full key 15 bytes", keyErr},
		{"small key 17 bytes", smallKeyErr},
		{"full add -1", errOf(full.AddCredit(1, -1))},
		{"full add 99999", errOf(full.AddCredit(1, 99999))},
		{"full set 99999", errOf(full.SetCredit(1, 99999))},
		{"full wipe flag 4", errOf(full.WipeState(1, WipeFlag(4)))},
		{"oqc 0", errOf(EncodeFactoryOQCTest(0))},
		{"oqc 100", errOf(EncodeFactoryOQCTest(100))},
		{"small add 0", errOf(small.AddCredit(1, 0))},
		{"small add 406", errOf(small.AddCredit(1, 406))},
		{"small set -1", errOf(small.SetCredit(1, -1))},
		{"small set 961", errOf(small.SetCredit(1, 961))},
		{"small extended 961", errOf(small.ExtendedSetCreditWipeRestrictedFlag(1, 961))},
		{"small maintenance 3", errOf(small.Maintenance(MaintenanceType(3)))},
		{"small custom 1", errOf(small.CustomCommand(1, CustomCommandType(1)))},
		{"small test 2", errOf(EncodeSmallTest(TestType(2)))},
		{"request protocol 0", errOf(Encode(Request{Type: AddCredit, Key: deadbeef, Value: "1"}))},
		{"request type 0", errOf(Encode(Request{Protocol: Full, Key: deadbeef, Value: "1"}))},
		{"request type 99", errOf(Encode(Request{Protocol: Small, Type: 99, Key: deadbeef, Value: "1"}))},
		{"request wipe on small", errOf(Encode(Request{Protocol: Small, Type: WipeState, Key: deadbeef, Value: "WIPE_IDS_ALL"}))},
		{"request test on full", errOf(Encode(Request{Protocol: Full, Type: Test, Value: "SHORT_TEST"}))},
		{"request nil key", errOf(Encode(Request{Protocol: Full, Type: AddCredit, Value: "1"}))},
		{"request value on unlock", errOf(Encode(Request{Protocol: Full, Type: Unlock, Key: deadbeef, Value: "99999"}))},
		{"request missing value", errOf(Encode(Request{Protocol: Small, Type: AddCredit, Key: deadbeef}))},
		{"request id on maintenance", errOf(Encode(Request{Protocol: Small, Type: Maintenance, Key: deadbeef, ID: 5, Value: "WIPE_IDS_ALL"}))},
		{"request id on factory", errOf(Encode(Request{Protocol: Full, Type: FactoryAllowTest, ID: 1}))},
		{"request hours not a number", errOf(Encode(Request{Protocol: Full, Type: AddCredit, Key: deadbeef, Value: "1.5"}))},
		{"request hours huge", errOf(Encode(Request{Protocol: Full, Type: AddCredit, Key: deadbeef, Value: "99999999999999999999999"}))},
		{"request bad wipe flag", errOf(Encode(Request{Protocol: Full, Type: WipeState, Key: deadbeef, Value: "EVERYTHING"}))},
		{"request bad test type", errOf(Encode(Request{Protocol: Small, Type: Test, Value: "LONG"}))},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
		} else if !strings.HasPrefix(tt.err.Error(), "nexus: ") {
			t.Errorf("%s: error %q lacks the nexus: prefix", tt.name, tt.err)
		}
	}
}

// TestKeyIndependent checks that factory and test keycodes ignore the key.
func TestKeyIndependent(t *testing.T) {
	for _, r := range []Request{
		{Protocol: Full, Type: FactoryAllowTest},
		{Protocol: Full, Type: FactoryOQCTest, Value: "10"},
		{Protocol: Small, Type: Test, Value: "OQC_TEST"},
	} {
		a, err := Encode(r)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		r.Key = deadbeef
		if b, err := Encode(r); err != nil || a != b {
			t.Errorf("%+v: with key %q, %v; without %q", r, b, err, a)
		}
	}
}

// TestZeroEncoders checks that zero-value encoders use the all-zero key.
func TestZeroEncoders(t *testing.T) {
	zero := make([]byte, 16)
	fe, _ := NewFullEncoder(zero)
	se, _ := NewSmallEncoder(zero)
	if a, b := (FullEncoder{}).Unlock(7), fe.Unlock(7); a != b {
		t.Errorf("zero FullEncoder Unlock = %q, want %q", a, b)
	}
	if a, b := (SmallEncoder{}).Unlock(7), se.Unlock(7); a != b {
		t.Errorf("zero SmallEncoder Unlock = %q, want %q", a, b)
	}
}

// TestIDOnWire checks that only the low 6 bits of the id are transmitted
// while the MAC covers all 32.
func TestIDOnWire(t *testing.T) {
	small, _ := NewSmallEncoder(deadbeef)
	for _, id := range []uint32{5, 69, 1<<16 + 5, math.MaxUint32 - 58} {
		msg, err := parseSmallDigits(stripKeycode(small.Unlock(id)))
		if err != nil {
			t.Fatal(err)
		}
		if got := obscureSmall(msg) >> 22; got != 5 {
			t.Errorf("id %d: wire id %d, want 5", id, got)
		}
	}
	if small.Unlock(5) == small.Unlock(69) {
		t.Error("ids 5 and 69 give the same keycode")
	}
}

func TestExpandID(t *testing.T) {
	tests := []struct {
		pd     uint32
		low6   uint8
		want   uint32
		wantOK bool
	}{
		{23, 0, 0, true},   // new device: window 0..63
		{23, 63, 63, true}, // new device: window 0..63
		{100, 77 & 63, 77, true},
		{100, 140 & 63, 140, true}, // pd+40
		{100, 141 & 63, 77, true},  // pd+41 wraps to the lowest match, pd-23
		{100, 76 & 63, 140, true},  // pd-24 is below the window: read as pd+40
		{0, 41, 0, false},          // window 0..40
		{0, 40, 40, true},
		{math.MaxUint32, 63, math.MaxUint32, true},
		{math.MaxUint32, 0, 0, false},
		{100, 64, 0, false},
	}
	for _, tt := range tests {
		got, ok := ExpandID(tt.pd, tt.low6)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("ExpandID(%d, %d) = %d, %t; want %d, %t", tt.pd, tt.low6, got, ok, tt.want, tt.wantOK)
		}
	}
}
