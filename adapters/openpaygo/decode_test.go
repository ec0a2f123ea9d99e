package openpaygo

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// decodeOutcome is a decode result in the format of the expected_* columns
// of decode_vectors.csv (and of DecodeCSV's output).
type decodeOutcome struct {
	Type, ValueRaw, Count, UsedCounts string
}

func outcomeOf(r Result) decodeOutcome {
	if !r.Accepted() {
		return decodeOutcome{Type: r.Type.String()}
	}
	return decodeOutcome{r.Type.String(), strconv.Itoa(r.Value), strconv.Itoa(r.Count), formatCounts(r.UsedCounts)}
}

// isQuirkRow reports whether a decode_vectors.csv note marks a row that
// documents a reference quirk.
func isQuirkRow(note string) bool {
	for _, p := range []string{"empty_used_counts_quirk;", "quirk_after_counter_sync_backward;"} {
		if strings.HasPrefix(note, p) {
			return true
		}
	}
	return false
}

// countsString returns lo..hi as a ";"-separated list.
func countsString(lo, hi int) string {
	return formatCounts(countRange(lo, hi))
}

// quirkOutcomes is what this decoder returns for every row of
// decode_vectors.csv marked as a reference quirk, keyed "scenario/step".
//
// After a counter sync below the device count, the reference simulator
// lowered last_count (43 to 15 in S03); this decoder measures the window
// from the highest used count (43), so the old ADD_TIME token at count 16
// is ALREADY_USED, and so is its replay. The reference accepts both.
//
// For S10 the used-count list is empty. This decoder then treats every
// count from last_count-16 to last_count as used: a replay of the last
// token (steps 3 and 9) and an older unused ADD_TIME token (step 8, whose
// use cannot be told from a replay without history) are ALREADY_USED,
// where the reference accepts them; accepted tokens return a real list
// where the reference returns None.
func quirkOutcomes() map[string]decodeOutcome {
	used := decodeOutcome{Type: "ALREADY_USED"}
	invalid := decodeOutcome{Type: "INVALID"}
	return map[string]decodeOutcome{
		"S03/16": used, "S03/17": used,
		"S06/16": used, "S06/17": used,
		"S09/16": used, "S09/17": used,

		"S10/1":  {"ADD_TIME", "7", "2", countsString(-14, 2)},
		"S10/2":  {"ADD_TIME", "30", "4", countsString(-12, 2) + ";4"},
		"S10/3":  used,
		"S10/4":  {"SET_TIME", "10", "5", countsString(-11, 5)},
		"S10/5":  used,
		"S10/6":  invalid,
		"S10/7":  {"ADD_TIME", "5", "8", countsString(-8, 5) + ";8"},
		"S10/8":  used,
		"S10/9":  used,
		"S10/10": {"DISABLE_PAYG", "998", "9", countsString(-7, 9)},
		"S10/11": used,
		"S10/12": {"SET_TIME", "0", "11", countsString(-5, 11)},
		"S10/13": {"ADD_TIME", "995", "12", countsString(-4, 12)},
		"S10/14": invalid,
		"S10/15": {"ADD_TIME", "12", "74", "74"},
		"S10/16": invalid,
		"S10/17": invalid,
	}
}

// decodeVectorDevice builds the device and state of a decode_vectors.csv row.
func decodeVectorDevice(t testing.TB, r map[string]string) (Device, State) {
	t.Helper()
	d := Device{
		Key:          mustKey(t, r["secret_key_hex"]),
		StartingCode: atoi(t, r["starting_code"]),
		ValueDivider: atoi(t, r["value_divider"]),
		Restricted:   parseBool(t, r["restricted_digit_set"]),
	}
	used, err := parseCounts(r["used_counts"])
	if err != nil {
		t.Fatal(err)
	}
	return d, State{LastCount: atoi(t, r["last_count"]), UsedCounts: used}
}

// TestDecodeVectors decodes every row of decode_vectors.csv. Rows not marked
// as quirks must match the reference in type, raw value, divided value,
// count and used counts. Quirk rows must give this decoder's documented
// outcome (quirkOutcomes).
func TestDecodeVectors(t *testing.T) {
	rows := readCSVFixture(t, "decode_vectors.csv")
	if len(rows) != decodeVectorRows {
		t.Fatalf("decode_vectors.csv has %d rows, want %d", len(rows), decodeVectorRows)
	}
	quirks := quirkOutcomes()
	var matched, quirkRows, quirkSameAsReference int
	for _, r := range rows {
		id := r["scenario"] + "/" + r["step"]
		d, s := decodeVectorDevice(t, r)
		res, err := d.Decode(r["token"], s)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		got := outcomeOf(res)
		ref := decodeOutcome{r["expected_token_type"], r["expected_value_raw"], r["expected_count"], r["expected_used_counts"]}

		if isQuirkRow(r["note"]) {
			quirkRows++
			want, ok := quirks[id]
			if !ok {
				t.Errorf("%s: quirk row has no expectation in quirkOutcomes", id)
				continue
			}
			if got != want {
				t.Errorf("%s (%s): got %+v, want %+v", id, r["note"], got, want)
			}
			if got.Type == ref.Type && got.ValueRaw == ref.ValueRaw && got.Count == ref.Count {
				quirkSameAsReference++
			}
			continue
		}
		if _, ok := quirks[id]; ok {
			t.Errorf("%s: quirkOutcomes lists a row not marked as a quirk", id)
		}
		if ref.UsedCounts == "none" {
			t.Errorf("%s: reference returned None for a row not marked as a quirk", id)
		}
		if got != ref {
			t.Errorf("%s (%s): got %+v, want %+v", id, r["note"], got, ref)
			continue
		}
		if res.Accepted() {
			wantDays, err := strconv.ParseFloat(r["expected_value"], 64)
			if err != nil {
				t.Fatalf("%s: expected_value %q: %v", id, r["expected_value"], err)
			}
			if res.Days != wantDays {
				t.Errorf("%s: Days = %v, want %v", id, res.Days, wantDays)
				continue
			}
		}
		matched++
	}
	if quirkRows != len(quirks) {
		t.Errorf("found %d quirk rows, quirkOutcomes has %d", quirkRows, len(quirks))
	}
	t.Logf("decode_vectors.csv: %d/%d non-quirk rows matched exactly; %d quirk rows checked against documented outcomes (%d agree with the reference on type, value and count)",
		matched, len(rows)-quirkRows, quirkRows, quirkSameAsReference)
}

// TestDecodeScenarios replays each scenario of decode_vectors.csv through
// State.Apply, starting from the first row's state, and checks that this
// decoder's own state evolution reproduces the input state of every
// following non-quirk row.
func TestDecodeScenarios(t *testing.T) {
	rows := readCSVFixture(t, "decode_vectors.csv")
	var scenario string
	var s State
	for _, r := range rows {
		d, rowState := decodeVectorDevice(t, r)
		id := r["scenario"] + "/" + r["step"]
		if r["scenario"] != scenario {
			scenario, s = r["scenario"], rowState
		}
		if isQuirkRow(r["note"]) || r["scenario"] == "S10" {
			continue
		}
		if s.LastCount != rowState.LastCount || !slices.Equal(s.UsedCounts, rowState.UsedCounts) {
			t.Errorf("%s: state %+v, fixture has %+v", id, s, rowState)
			s = rowState
		}
		res, err := d.Decode(r["token"], s)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		s = s.Apply(res)
	}
}

func TestDecodeWindow(t *testing.T) {
	d := Device{Key: mustKey(t, "bc41ec9530f6dac86b1a29ab82edc5fb"), StartingCode: 516959010}
	tests := []struct {
		name      string
		last      int
		typ       TokenType
		value     int
		extended  bool
		count     int // the count the token is issued at
		wantType  TokenType
		wantValue int
	}{
		{"add at last+64", 10, AddTime, 3, false, 74, AddTime, 3},
		{"add at last+66", 10, AddTime, 3, false, 76, Invalid, 0},
		{"set at last+63", 10, SetTime, 3, false, 73, SetTime, 3},
		{"set at last+65", 10, SetTime, 3, false, 75, Invalid, 0},
		{"extended add at last+64", 10, AddTime, 4321, true, 74, AddTime, 4321},
		{"extended add at last+66", 10, AddTime, 4321, true, 76, Invalid, 0},
		{"sync at last+100", 11, CounterSync, 0, false, 111, CounterSync, 999},
		{"sync at last+102", 11, CounterSync, 0, false, 113, Invalid, 0},
		{"sync 63 below last", 100, CounterSync, 0, false, 37, CounterSync, 999},
		{"sync 64 below last", 101, CounterSync, 0, false, 37, AlreadyUsed, 0},
		{"extended sync is set time", 10, CounterSync, 0, true, 11, SetTime, 999},
		{"extended disable is set time", 10, DisablePAYG, 0, true, 11, SetTime, 998},
		{"extended sync has no +100 window", 10, CounterSync, 0, true, 77, Invalid, 0},
		{"extended sync cannot be replayed", 12, CounterSync, 0, true, 11, AlreadyUsed, 0},
		{"add 14 below last", 16, AddTime, 1, false, 2, AddTime, 1},
		{"add 16 below last", 18, AddTime, 1, false, 2, AlreadyUsed, 0},
		{"set below last", 16, SetTime, 1, false, 15, AlreadyUsed, 0},
		{"add at count 0 is the starting code", 0, AddTime, 0, false, 0, AlreadyUsed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encode := d.Encode
			if tt.extended {
				encode = d.EncodeExtended
			}
			token, n, err := encode(tt.typ, tt.value, max(tt.count-1, 0))
			if tt.count == 0 {
				token, n, err = d.token(0, 0, false), 0, nil
			}
			if err != nil || n != tt.count {
				t.Fatalf("encode: count %d, %v; want count %d", n, err, tt.count)
			}
			// Seed the used list as the test vectors do.
			res, err := d.Decode(token, State{LastCount: tt.last, UsedCounts: []int{tt.last}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != tt.wantType || res.Value != tt.wantValue {
				t.Fatalf("got %v value %d, want %v value %d", res.Type, res.Value, tt.wantType, tt.wantValue)
			}
			if res.Accepted() && res.Count != tt.count {
				t.Errorf("count %d, want %d", res.Count, tt.count)
			}
			if res.Extended != tt.extended {
				t.Errorf("Extended = %v", res.Extended)
			}
		})
	}
}

// TestDecodeReservedValueAtEvenCount checks the spec rule that an even-count
// token carrying 998 or 999 decodes as ADD_TIME with that value. The
// encoder never issues such tokens, so they are built directly.
func TestDecodeReservedValueAtEvenCount(t *testing.T) {
	d := Device{Key: mustKey(t, "a29ab82edc5fbbc41ec9530f6dac86b1"), StartingCode: 123456789, ValueDivider: 4}
	for _, v := range []int{998, 999} {
		res, err := d.Decode(d.token(uint64(v), 6, false), InitialState(5))
		if err != nil {
			t.Fatal(err)
		}
		if res.Type != AddTime || res.Value != v || res.Count != 6 || res.Days != float64(v)/4 {
			t.Errorf("value %d: got %+v", v, res)
		}
		// Reserved values retire every older count.
		if want := countsString(-10, 6); formatCounts(res.UsedCounts) != want {
			t.Errorf("value %d: used counts %v, want %s", v, res.UsedCounts, want)
		}
		// Unlike the reference, which applies the counter-sync rule to any
		// value-999 token, an ADD_TIME 999 token cannot be replayed.
		again, err := d.Decode(d.token(uint64(v), 6, false), InitialState(5).Apply(res))
		if err != nil || again.Type != AlreadyUsed {
			t.Errorf("value %d: replay = %+v, %v; want ALREADY_USED", v, again, err)
		}
	}
}

// TestInitialState checks that a new device refuses tokens at counts up to
// its initial count, including the count-0 tokens that need only the
// starting code, while a list seeded with the initial count alone (as in
// the test vectors) accepts them once.
func TestInitialState(t *testing.T) {
	d := Device{Key: mustKey(t, "a29ab82edc5fbbc41ec9530f6dac86b1"), StartingCode: 123456789}
	s := InitialState(1)
	if s.LastCount != 1 || !slices.Equal(s.UsedCounts, countRange(-15, 1)) {
		t.Fatalf("InitialState(1) = %+v", s)
	}
	for _, v := range []int{5, 995, 999} {
		token := d.token(uint64(v), 0, false) // the starting code with v added to its last 3 digits
		if res, err := d.Decode(token, s); err != nil || res.Type != AlreadyUsed {
			t.Errorf("count-0 token %s with InitialState: %+v, %v; want ALREADY_USED", token, res, err)
		}
		res, err := d.Decode(token, State{LastCount: 1, UsedCounts: []int{1}})
		if err != nil || res.Type != AddTime || res.Count != 0 || res.Value != v {
			t.Errorf("count-0 token %s with used [1]: %+v, %v; want ADD_TIME %d at count 0", token, res, err, v)
		}
	}
	// The next token the server issues is accepted.
	token, _, err := d.Encode(AddTime, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := d.Decode(token, s); err != nil || res.Type != AddTime || res.Count != 2 {
		t.Errorf("first token: %+v, %v", res, err)
	}
}

// TestStateNeverGoesBackwards checks that a counter sync below the device
// count is accepted but does not lower the count, so older ADD_TIME tokens
// stay used (compare the quirk rows of scenario S03).
func TestStateNeverGoesBackwards(t *testing.T) {
	d := Device{Key: mustKey(t, "dac86b1a29ab82edc5fbbc41ec9530f6"), StartingCode: 432435255}
	s := InitialState(43)
	sync, _, err := d.Encode(CounterSync, 0, 14)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Decode(sync, s)
	if err != nil || res.Type != CounterSync || res.Count != 15 {
		t.Fatalf("sync: %+v, %v", res, err)
	}
	s = s.Apply(res)
	if s.LastCount != 43 {
		t.Fatalf("LastCount = %d after backward sync, want 43", s.LastCount)
	}
	add, _, err := d.Encode(AddTime, 3, 15)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := d.Decode(add, s); err != nil || res.Type != AlreadyUsed {
		t.Errorf("add at 16 after backward sync: %+v, %v; want ALREADY_USED", res, err)
	}
	// A rejected result leaves the state alone.
	if got := s.Apply(Result{Type: Invalid}); got.LastCount != s.LastCount || !slices.Equal(got.UsedCounts, s.UsedCounts) {
		t.Errorf("Apply(INVALID) changed the state: %+v", got)
	}
}

func TestDecodeMalformed(t *testing.T) {
	key := mustKey(t, "a29ab82edc5fbbc41ec9530f6dac86b1")
	plain := Device{Key: key, StartingCode: 123456789}
	restricted := Device{Key: key, StartingCode: 123456789, Restricted: true}
	tests := []struct {
		d     Device
		token string
	}{
		{plain, ""},
		{plain, "12345678"},
		{plain, "1234567890"},
		{plain, "1234567890123"},
		{plain, "66248679a"},
		{plain, "662 486 790"},
		{plain, "-62486790"},
		{plain, "６６２４８６７９０"},
		{plain, "324244134441123"}, // restricted token on a plain device
		{restricted, "662486790"},
		{restricted, "324244134441120"},
		{restricted, "324244134441125"},
		{restricted, "3242441344411231"},
		{restricted, "32424413444112"},
	}
	for _, tt := range tests {
		res, err := tt.d.Decode(tt.token, InitialState(0))
		if !errors.Is(err, ErrMalformedToken) || !strings.HasPrefix(err.Error(), "openpaygo: ") {
			t.Errorf("Decode(%q, restricted=%v) error = %v, want ErrMalformedToken", tt.token, tt.d.Restricted, err)
		}
		if res.Type != Invalid || res.Accepted() {
			t.Errorf("Decode(%q) result %+v, want INVALID", tt.token, res)
		}
	}
	// The well-formed versions decode.
	for _, tt := range []struct {
		d     Device
		token string
	}{{plain, "662486790"}, {restricted, "324244134441123"}} {
		if res, err := tt.d.Decode(tt.token, InitialState(0)); err != nil || res.Type != AddTime || res.Value != 1 {
			t.Errorf("Decode(%q) = %+v, %v", tt.token, res, err)
		}
	}
}

func TestDecodeBadInput(t *testing.T) {
	key := mustKey(t, "a29ab82edc5fbbc41ec9530f6dac86b1")
	d := Device{Key: key, StartingCode: 123456789}
	tests := []struct {
		d    Device
		s    State
		want error
	}{
		{d, State{LastCount: -1}, ErrCountOutOfRange},
		{d, State{LastCount: MaxCount + 1}, ErrCountOutOfRange},
		{d, State{LastCount: 1, UsedCounts: []int{1, MaxCount + 1}}, ErrCountOutOfRange},
		{d, State{LastCount: 1, UsedCounts: []int{-MaxCount - 1}}, ErrCountOutOfRange},
		{Device{Key: key, StartingCode: -5}, InitialState(0), ErrInvalidStartingCode},
		{Device{Key: key, ValueDivider: 1000}, InitialState(0), ErrInvalidDivider},
	}
	for i, tt := range tests {
		res, err := tt.d.Decode("662486790", tt.s)
		if !errors.Is(err, tt.want) || res.Type != Invalid {
			t.Errorf("case %d: %+v, %v; want %v", i, res, err, tt.want)
		}
	}
}

// ExampleDevice_Decode shows a server issuing a token and a device taking it.
func ExampleDevice_Decode() {
	key, err := ParseKey("a29ab82edc5fbbc41ec9530f6dac86b1")
	if err != nil {
		panic(err)
	}
	d := Device{Key: key, StartingCode: 123456789}

	token, count, err := d.Encode(AddTime, 1, 0) // stored count 0
	if err != nil {
		panic(err)
	}
	fmt.Println(token, count)

	state := InitialState(0)
	res, err := d.Decode(token, state)
	if err != nil {
		panic(err)
	}
	state = state.Apply(res)
	fmt.Println(res.Type, res.Value, res.Count, state.LastCount)

	res, _ = d.Decode(token, state) // replay
	fmt.Println(res.Type)
	// Output:
	// 662486790 2
	// ADD_TIME 1 2 2
	// ALREADY_USED
}
