package openpaygo

import (
	"bufio"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/adapters/internal/siphash"
)

// TestEncodeVectors reproduces every row of vectors.csv, including the
// days-to-units rounding and, for derived starting codes, the derivation.
func TestEncodeVectors(t *testing.T) {
	rows := readCSVFixture(t, "vectors.csv")
	if len(rows) != encodeVectorRows {
		t.Fatalf("vectors.csv has %d rows, want %d", len(rows), encodeVectorRows)
	}
	matched := 0
	for i, r := range rows {
		name := "row" + strconv.Itoa(i+1)
		typ, err := ParseTokenType(r["token_type"])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		key := mustKey(t, r["secret_key_hex"])
		d := Device{
			Key:          key,
			StartingCode: atoi(t, r["starting_code"]),
			ValueDivider: atoi(t, r["value_divider"]),
			Restricted:   parseBool(t, r["restricted_digit_set"]),
		}
		wantRaw := atoi(t, r["value_raw"])

		switch r["starting_code_source"] {
		case "derived":
			if got := DeriveStartingCode(key); got != d.StartingCode {
				t.Errorf("%s: DeriveStartingCode = %d, want %d", name, got, d.StartingCode)
				continue
			}
		case "explicit":
		default:
			t.Fatalf("%s: unknown starting_code_source %q", name, r["starting_code_source"])
		}

		// value is in days; only ADD_TIME and SET_TIME have one.
		value := 0
		switch typ {
		case AddTime, SetTime:
			days, err := strconv.ParseFloat(r["value"], 64)
			if err != nil {
				t.Fatalf("%s: value %q: %v", name, r["value"], err)
			}
			value, err = d.RawValue(days)
			if err != nil || value != wantRaw {
				t.Errorf("%s: RawValue(%v) with divider %d = %d, %v; want %d", name, days, d.ValueDivider, value, err, wantRaw)
				continue
			}
		case DisablePAYG, CounterSync:
			if r["value"] != "" {
				t.Fatalf("%s: unexpected value %q for %v", name, r["value"], typ)
			}
			if want := map[TokenType]int{DisablePAYG: 998, CounterSync: 999}[typ]; wantRaw != want {
				t.Errorf("%s: value_raw %d, want %d", name, wantRaw, want)
			}
		}

		encode := d.Encode
		if parseBool(t, r["extended"]) {
			encode = d.EncodeExtended
		}
		token, newCount, err := encode(typ, value, atoi(t, r["count"]))
		if err != nil {
			t.Errorf("%s: encode: %v", name, err)
			continue
		}
		if token != r["expected_token"] || newCount != atoi(t, r["expected_new_count"]) {
			t.Errorf("%s: got %s (count %d), want %s (count %s)", name, token, newCount, r["expected_token"], r["expected_new_count"])
			continue
		}
		matched++
	}
	t.Logf("vectors.csv: %d/%d rows matched", matched, len(rows))
}

// upstreamVector is one line of upstream_test_tokens.jsonl.
type upstreamVector struct {
	Serial       string `json:"serial_number"`
	Key          string `json:"key"`
	StartingCode int    `json:"starting_code"`
	Count        int    `json:"count"`
	TokenType    string `json:"token_type"`
	ValueRaw     *int   `json:"value_raw"` // null for DISABLE_PAYG and COUNTER_SYNC
	Restricted   bool   `json:"restricted_digit_set"`
	Extended     bool   `json:"extended_token"`
	NewCount     int    `json:"new_count"`
	Token        string `json:"token"`
}

// TestEncodeUpstreamVectors reproduces every line of the reference
// repository's test_tokens.jsonl.
func TestEncodeUpstreamVectors(t *testing.T) {
	f, err := os.Open(fixturePath("upstream_test_tokens.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total, matched int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		total++
		var v upstreamVector
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %d: %v", total, err)
		}
		typ, err := ParseTokenType(v.TokenType)
		if err != nil {
			t.Fatalf("line %d: %v", total, err)
		}
		value := 0
		if v.ValueRaw != nil {
			value = *v.ValueRaw
		}
		d := Device{Key: mustKey(t, v.Key), StartingCode: v.StartingCode, Restricted: v.Restricted}
		encode := d.Encode
		if v.Extended {
			encode = d.EncodeExtended
		}
		token, newCount, err := encode(typ, value, v.Count)
		if err != nil {
			t.Errorf("line %d: %v", total, err)
			continue
		}
		if token != v.Token || newCount != v.NewCount {
			t.Errorf("line %d (%s %v count %d): got %s (count %d), want %s (count %d)",
				total, v.Serial, typ, v.Count, token, newCount, v.Token, v.NewCount)
			continue
		}
		matched++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if total != upstreamVectorRows {
		t.Errorf("upstream_test_tokens.jsonl has %d lines, want %d", total, upstreamVectorRows)
	}
	t.Logf("upstream_test_tokens.jsonl: %d/%d lines matched", matched, total)
}

// TestSpecExamples checks the worked examples of the spec, including the
// intermediate chain values.
func TestSpecExamples(t *testing.T) {
	key := mustKey(t, "a29ab82edc5fbbc41ec9530f6dac86b1")

	k0, k1 := key.words()
	if got := siphash.Sum64(k0, k1, key[:]); got != 0x507fda4fd8ba7643 {
		t.Errorf("SipHash(key, key) = %#x, want 0x507fda4fd8ba7643", got)
	}
	if got := DeriveStartingCode(key); got != 573664003 {
		t.Errorf("DeriveStartingCode = %d, want 573664003", got)
	}

	c := newChain(key, false)
	if got := c.next(123456790); got != 643134301 {
		t.Errorf("F9(123456790) = %d, want 643134301", got)
	}
	if got := c.next(643134301); got != 662486357 {
		t.Errorf("F9(643134301) = %d, want 662486357", got)
	}

	d := Device{Key: key, StartingCode: 123456789}
	sequence := []struct {
		typ       TokenType
		value     int
		token     string
		wantCount int
	}{
		{AddTime, 1, "662486790", 2},
		{AddTime, 29, "927706818", 4},
		{SetTime, 7, "942433796", 5},
		{DisablePAYG, 0, "650975787", 7},
		{SetTime, 0, "592185789", 9},
	}
	count := 0
	for _, s := range sequence {
		token, n, err := d.Encode(s.typ, s.value, count)
		if err != nil || token != s.token || n != s.wantCount {
			t.Errorf("Encode(%v, %d, %d) = %s, %d, %v; want %s, %d", s.typ, s.value, count, token, n, err, s.token, s.wantCount)
		}
		count = n
	}

	if token, n, err := d.EncodeExtended(AddTime, 12345, 0); err != nil || token != "573015469134" || n != 2 {
		t.Errorf("EncodeExtended(ADD_TIME, 12345, 0) = %s, %d, %v; want 573015469134, 2", token, n, err)
	}
	if got := render(662486790, false, true); got != "324244134441123" {
		t.Errorf("restricted rendering of 662486790 = %s, want 324244134441123", got)
	}
	// A token at count 0 with value 0 is the starting code itself.
	if got := render(uint64(d.StartingCode), false, false); got != "123456789" {
		t.Errorf("render(starting code) = %s", got)
	}
}

func TestEncodeErrors(t *testing.T) {
	key := mustKey(t, "a29ab82edc5fbbc41ec9530f6dac86b1")
	good := Device{Key: key, StartingCode: 123456789}
	tests := []struct {
		name     string
		d        Device
		typ      TokenType
		value    int
		count    int
		extended bool
		want     error
	}{
		{"value above 995", good, AddTime, 996, 0, false, ErrValueOutOfRange},
		{"negative value", good, SetTime, -1, 0, false, ErrValueOutOfRange},
		{"reserved value as add", good, AddTime, 998, 0, false, ErrValueOutOfRange},
		{"extended value above 999999", good, AddTime, 1_000_000, 0, true, ErrValueOutOfRange},
		{"value for disable", good, DisablePAYG, 998, 0, false, ErrValueOutOfRange},
		{"value for counter sync", good, CounterSync, 5, 0, false, ErrValueOutOfRange},
		{"invalid is not encodable", good, Invalid, 0, 0, false, ErrInvalidTokenType},
		{"already used is not encodable", good, AlreadyUsed, 0, 0, false, ErrInvalidTokenType},
		{"zero type", good, TokenType(0), 0, 0, false, ErrInvalidTokenType},
		{"negative count", good, AddTime, 1, -1, false, ErrCountOutOfRange},
		{"count at limit", good, SetTime, 1, MaxCount, false, ErrCountOutOfRange},
		{"next count above limit", good, AddTime, 1, MaxCount - 1, false, ErrCountOutOfRange},
		{"starting code too big", Device{Key: key, StartingCode: 1_000_000_000}, AddTime, 1, 0, false, ErrInvalidStartingCode},
		{"negative starting code", Device{Key: key, StartingCode: -1}, AddTime, 1, 0, false, ErrInvalidStartingCode},
		{"divider too big", Device{Key: key, ValueDivider: 256}, AddTime, 1, 0, false, ErrInvalidDivider},
		{"negative divider", Device{Key: key, ValueDivider: -1}, AddTime, 1, 0, false, ErrInvalidDivider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encode := tt.d.Encode
			if tt.extended {
				encode = tt.d.EncodeExtended
			}
			token, n, err := encode(tt.typ, tt.value, tt.count)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "openpaygo: ") {
				t.Errorf("error %q lacks the openpaygo: prefix", err)
			}
			if token != "" || n != 0 {
				t.Errorf("got token %q, count %d with an error", token, n)
			}
		})
	}
}

func TestEncodeBoundaries(t *testing.T) {
	d := Device{Key: mustKey(t, "a29ab82edc5fbbc41ec9530f6dac86b1"), StartingCode: 123456789}
	for _, tt := range []struct {
		typ         TokenType
		value       int
		extended    bool
		count, want int
	}{
		{AddTime, 0, false, 0, 2},
		{AddTime, 995, false, 1, 2},
		{SetTime, 0, false, 0, 1},
		{SetTime, 995, false, 1, 3},
		{DisablePAYG, 0, false, 2, 3},
		{CounterSync, 0, false, 3, 5},
		{AddTime, 999_999, true, 0, 2},
		{SetTime, 0, true, 2, 3},
	} {
		encode := d.Encode
		if tt.extended {
			encode = d.EncodeExtended
		}
		token, n, err := encode(tt.typ, tt.value, tt.count)
		if err != nil || n != tt.want {
			t.Errorf("encode(%v, %d, %d) = %q, %d, %v; want count %d", tt.typ, tt.value, tt.count, token, n, err, tt.want)
		}
	}
	// A count near the limit is still accepted as input.
	if _, err := nextCount(AddTime, MaxCount-2); err != nil {
		t.Errorf("nextCount(ADD_TIME, MaxCount-2): %v", err)
	}
}

func TestParseKey(t *testing.T) {
	k, err := ParseKey("000102030405060708090a0b0c0d0e0F")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range k {
		if int(b) != i {
			t.Fatalf("byte %d = %d", i, b)
		}
	}
	for _, bad := range []string{"", "00", "000102030405060708090a0b0c0d0e", "000102030405060708090a0b0c0d0e0f00", "zz0102030405060708090a0b0c0d0e0f", " 00102030405060708090a0b0c0d0e0f"} {
		if _, err := ParseKey(bad); !errors.Is(err, ErrInvalidKey) || !strings.HasPrefix(err.Error(), "openpaygo: ") {
			t.Errorf("ParseKey(%q) error = %v, want ErrInvalidKey", bad, err)
		}
	}
}

func TestParseTokenType(t *testing.T) {
	for _, typ := range []TokenType{AddTime, SetTime, DisablePAYG, CounterSync, Invalid, AlreadyUsed} {
		got, err := ParseTokenType(typ.String())
		if err != nil || got != typ {
			t.Errorf("ParseTokenType(%q) = %v, %v", typ.String(), got, err)
		}
	}
	if got, err := ParseTokenType(" add_time "); err != nil || got != AddTime {
		t.Errorf("ParseTokenType(add_time) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "ADD", "1", "ADDTIME"} {
		if _, err := ParseTokenType(bad); !errors.Is(err, ErrInvalidTokenType) {
			t.Errorf("ParseTokenType(%q) error = %v", bad, err)
		}
	}
	if got := TokenType(42).String(); got != "TokenType(42)" {
		t.Errorf("String() = %q", got)
	}
}

func TestRawValue(t *testing.T) {
	d := Device{ValueDivider: 1}
	for _, tt := range []struct {
		days    float64
		divider int
		want    int
	}{
		{2.5, 1, 2}, {3.5, 1, 4}, {0.5, 1, 0}, {1.5, 1, 2},
		{0.625, 4, 2}, {0.875, 4, 4}, {1.25, 10, 12}, {10.0625, 8, 80},
		{248.75, 4, 995}, {0, 0, 0}, {7, 0, 7},
	} {
		d.ValueDivider = tt.divider
		got, err := d.RawValue(tt.days)
		if err != nil || got != tt.want {
			t.Errorf("RawValue(%v) divider %d = %d, %v; want %d", tt.days, tt.divider, got, err, tt.want)
		}
	}
	d.ValueDivider = 1
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1), 1_000_000} {
		if _, err := d.RawValue(bad); !errors.Is(err, ErrValueOutOfRange) {
			t.Errorf("RawValue(%v) error = %v", bad, err)
		}
	}
	if _, err := (Device{ValueDivider: 300}).RawValue(1); !errors.Is(err, ErrInvalidDivider) {
		t.Errorf("RawValue with divider 300: %v", err)
	}
}
