package openpaygo

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"strings"
	"testing"
)

// runCSV runs fn over in and returns the output records, the error report
// lines, and the bad-row count.
func runCSV(t *testing.T, fn func(in *strings.Reader, out, errOut *bytes.Buffer) (int, error), in string) (records [][]string, report []string, bad int) {
	t.Helper()
	var out, errOut bytes.Buffer
	bad, err := fn(strings.NewReader(in), &out, &errOut)
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	records, err = csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, out.String())
	}
	if errOut.Len() > 0 {
		report = strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
	}
	return records, report, bad
}

func encodeCSV(in *strings.Reader, out, errOut *bytes.Buffer) (int, error) {
	return EncodeCSV(in, out, errOut)
}

func decodeCSV(in *strings.Reader, out, errOut *bytes.Buffer) (int, error) {
	return DecodeCSV(in, out, errOut)
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(fixturePath(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEncodeCSVVectors runs EncodeCSV over vectors.csv, whose columns are in
// another order and include columns EncodeCSV ignores.
func TestEncodeCSVVectors(t *testing.T) {
	rows := readCSVFixture(t, "vectors.csv")
	records, report, bad := runCSV(t, encodeCSV, readFixture(t, "vectors.csv"))
	if bad != 0 || len(report) != 0 {
		t.Fatalf("%d bad rows: %v", bad, report)
	}
	if len(records) != len(rows)+1 {
		t.Fatalf("%d output records, want %d", len(records), len(rows)+1)
	}
	if got := strings.Join(records[0], ","); got != "token,new_count" {
		t.Errorf("header %q", got)
	}
	matched := 0
	for i, r := range rows {
		got := records[i+1]
		if got[0] != r["expected_token"] || got[1] != r["expected_new_count"] {
			t.Errorf("row %d: got %v, want %s,%s", i+1, got, r["expected_token"], r["expected_new_count"])
			continue
		}
		matched++
	}
	t.Logf("EncodeCSV over vectors.csv: %d/%d rows matched", matched, len(rows))
}

// TestDecodeCSVVectors runs DecodeCSV over decode_vectors.csv. Rows not
// marked as quirks must reproduce the expected_* columns exactly; quirk rows
// must give the outcomes documented in quirkOutcomes.
func TestDecodeCSVVectors(t *testing.T) {
	rows := readCSVFixture(t, "decode_vectors.csv")
	records, report, bad := runCSV(t, decodeCSV, readFixture(t, "decode_vectors.csv"))
	if bad != 0 || len(report) != 0 {
		t.Fatalf("%d bad rows: %v", bad, report)
	}
	if len(records) != len(rows)+1 {
		t.Fatalf("%d output records, want %d", len(records), len(rows)+1)
	}
	if got := strings.Join(records[0], ","); got != "token_type,value_raw,count,used_counts" {
		t.Errorf("header %q", got)
	}
	quirks := quirkOutcomes()
	var matched, quirkRows int
	for i, r := range rows {
		id := r["scenario"] + "/" + r["step"]
		rec := records[i+1]
		got := decodeOutcome{rec[0], rec[1], rec[2], rec[3]}
		want := decodeOutcome{r["expected_token_type"], r["expected_value_raw"], r["expected_count"], r["expected_used_counts"]}
		if isQuirkRow(r["note"]) {
			quirkRows++
			want = quirks[id]
		}
		if got != want {
			t.Errorf("%s (%s): got %+v, want %+v", id, r["note"], got, want)
			continue
		}
		matched++
	}
	t.Logf("DecodeCSV over decode_vectors.csv: %d/%d rows as expected (%d non-quirk rows exactly as the reference, %d quirk rows as documented)",
		matched, len(rows), len(rows)-quirkRows, quirkRows)
}

func TestEncodeCSVMalformedRows(t *testing.T) {
	const key = "a29ab82edc5fbbc41ec9530f6dac86b1"
	in := strings.Join([]string{
		"note,extended,count,value_raw,token_type,restricted_digit_set,starting_code,secret_key_hex",
		"ok,false,0,1,ADD_TIME,false,123456789," + key,
		"bad hex,false,0,1,ADD_TIME,false,123456789,zz9ab82edc5fbbc41ec9530f6dac86b1",
		"short key,false,0,1,ADD_TIME,false,123456789,a29ab8",
		"value too big,false,0,996,ADD_TIME,false,123456789," + key,
		"negative value,false,0,-1,SET_TIME,false,123456789," + key,
		"unknown type,false,0,1,ADD_DAYS,false,123456789," + key,
		"missing fields,false,0,1",
		"empty count,false,,1,ADD_TIME,false,123456789," + key,
		"bad bool,maybe,0,1,ADD_TIME,false,123456789," + key,
		"value for disable,false,0,5,DISABLE_PAYG,false,123456789," + key,
		"disable empty value,false,5,,DISABLE_PAYG,false,123456789," + key,
		"sync written out,false,4,999,COUNTER_SYNC,false,123456789," + key,
		"derived starting code,false,10,12,ADD_TIME,false,,00000000000000000000000000000000",
		"starting code too big,false,0,1,ADD_TIME,false,1000000000," + key,
		"extended restricted,true,0,12345,ADD_TIME,true,123456789," + key,
		"ok again,false,2,29,ADD_TIME,false,123456789," + key,
	}, "\n") + "\n"

	records, report, bad := runCSV(t, encodeCSV, in)
	wantRecords := [][]string{
		{"token", "new_count"},
		{"662486790", "2"},
		{"", ""}, // bad hex
		{"", ""}, // short key
		{"", ""}, // value too big
		{"", ""}, // negative value
		{"", ""}, // unknown type
		{"", ""}, // missing fields
		{"", ""}, // empty count
		{"", ""}, // bad bool
		{"", ""}, // value for disable
		{"650975787", "7"},
		{"", "5"}, // filled in below
		{"976706641", "12"},
		{"", ""},  // starting code too big
		{"", "2"}, // filled in below
		{"927706818", "4"},
	}
	// Fill in tokens checked against the encoder directly.
	d := Device{Key: mustKey(t, key), StartingCode: 123456789}
	sync, _, err := d.Encode(CounterSync, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	wantRecords[12][0] = sync
	d.Restricted = true
	ext, _, err := d.EncodeExtended(AddTime, 12345, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantRecords[15][0] = ext
	if len(ext) != 20 {
		t.Errorf("extended restricted token %q is not 20 digits", ext)
	}

	if len(records) != len(wantRecords) {
		t.Fatalf("%d output records, want %d:\n%v", len(records), len(wantRecords), records)
	}
	for i := range wantRecords {
		if strings.Join(records[i], ",") != strings.Join(wantRecords[i], ",") {
			t.Errorf("output record %d = %v, want %v", i, records[i], wantRecords[i])
		}
	}
	wantReport := []string{
		"row 2: secret_key_hex: openpaygo: invalid secret key",
		"row 3: secret_key_hex: openpaygo: invalid secret key",
		"row 4: openpaygo: value out of range",
		"row 5: openpaygo: value out of range",
		"row 6: token_type: openpaygo: invalid token type",
		"row 7: token_type: missing field",
		"row 8: count: empty field",
		"row 9: extended: not true or false",
		"row 10: openpaygo: value out of range",
		"row 14: openpaygo: starting code out of range",
	}
	if bad != len(wantReport) || len(report) != len(wantReport) {
		t.Fatalf("bad = %d, report:\n%s", bad, strings.Join(report, "\n"))
	}
	for i, line := range report {
		if !strings.HasPrefix(line, wantReport[i]) {
			t.Errorf("report line %d = %q, want prefix %q", i, line, wantReport[i])
		}
	}
}

func TestDecodeCSVMalformedRows(t *testing.T) {
	const key = "a29ab82edc5fbbc41ec9530f6dac86b1"
	in := strings.Join([]string{
		"token,used_counts,last_count,value_divider,restricted_digit_set,starting_code,secret_key_hex,extra",
		"662486790,0,0,1,false,123456789," + key + ",x",
		"66248679x,0,0,1,false,123456789," + key + ",x",
		"662486790,0;two,0,1,false,123456789," + key + ",x",
		"662486790,0,-1,1,false,123456789," + key + ",x",
		"662486790,0,0,0,false,123456789," + key + ",x",
		"662486790,0,0,256,false,123456789," + key + ",x",
		"662486790,0,0,1,false,123456789",
		",0,0,1,false,123456789," + key + ",x",
		"662486790,0;2,2,,false,123456789," + key + ",x",
		"479327943,0,0,1,false,123456789," + key + ",x",
		"324244134441123,0,0,1,true,123456789," + key + ",x",
		"324244134441523,0,0,1,true,123456789," + key + ",x",
	}, "\n")

	records, report, bad := runCSV(t, decodeCSV, in)
	wantRecords := []string{
		"token_type,value_raw,count,used_counts",
		"ADD_TIME,1,2,0;2",
		",,,",
		",,,",
		",,,",
		",,,",
		",,,",
		",,,",
		",,,",
		"ALREADY_USED,,,",
		"INVALID,,,",
		"ADD_TIME,1,2,0;2",
		",,,",
	}
	if len(records) != len(wantRecords) {
		t.Fatalf("%d output records, want %d:\n%v", len(records), len(wantRecords), records)
	}
	for i, want := range wantRecords {
		if got := strings.Join(records[i], ","); got != want {
			t.Errorf("output record %d = %q, want %q", i, got, want)
		}
	}
	wantReport := []string{
		"row 2: openpaygo: malformed token",
		"row 3: used_counts: not an integer",
		"row 4: openpaygo: count out of range",
		"row 5: value_divider: openpaygo: value divider out of range",
		"row 6: value_divider: openpaygo: value divider out of range",
		"row 7: secret_key_hex: missing field",
		"row 8: token: empty field",
		"row 12: openpaygo: malformed token",
	}
	if bad != len(wantReport) || len(report) != len(wantReport) {
		t.Fatalf("bad = %d, report:\n%s", bad, strings.Join(report, "\n"))
	}
	for i, line := range report {
		if !strings.HasPrefix(line, wantReport[i]) {
			t.Errorf("report line %d = %q, want prefix %q", i, line, wantReport[i])
		}
	}
}

func TestCSVFileErrors(t *testing.T) {
	const key = "a29ab82edc5fbbc41ec9530f6dac86b1"
	encodeHeader := "token_type,secret_key_hex,starting_code,value_raw,count,restricted_digit_set,extended\n"
	tests := []struct {
		name string
		fn   func(in *strings.Reader, out, errOut *bytes.Buffer) (int, error)
		in   string
		want string
	}{
		{"empty input", encodeCSV, "", "no header row"},
		{"missing column", encodeCSV, "token_type,secret_key_hex,starting_code,value_raw,count,restricted_digit_set\n", "missing column(s) extended"},
		{"duplicate column", encodeCSV, strings.TrimSuffix(encodeHeader, "\n") + ",count\n", `duplicate column "count"`},
		{"decode missing columns", decodeCSV, "token,last_count\n", "missing column(s) secret_key_hex, starting_code"},
		{"unterminated quote", encodeCSV, encodeHeader + "ADD_TIME," + key + ",1,1,0,false,false\n\"ADD_TIME,x\n", "data row 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			_, err := tt.fn(strings.NewReader(tt.in), &out, &errOut)
			if err == nil || !strings.HasPrefix(err.Error(), "openpaygo: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}

	// A header with a byte order mark, spaces and only ignored extra
	// columns duplicated still works.
	in := "\ufefftoken_type , secret_key_hex,starting_code,value_raw,count,restricted_digit_set,extended,x,x\n" +
		"ADD_TIME," + key + ",123456789,1,0,false,false,,\n"
	records, report, bad := runCSV(t, encodeCSV, in)
	if bad != 0 || len(report) != 0 || len(records) != 2 || records[1][0] != "662486790" {
		t.Errorf("got %v, %v, %d", records, report, bad)
	}
	// A header alone gives a header alone.
	records, _, _ = runCSV(t, encodeCSV, encodeHeader)
	if len(records) != 1 {
		t.Errorf("got %v", records)
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestCSVWriteErrors(t *testing.T) {
	in := "token_type,secret_key_hex,starting_code,value_raw,count,restricted_digit_set,extended\n" +
		"ADD_TIME,a29ab82edc5fbbc41ec9530f6dac86b1,123456789,1,0,false,false\n" +
		"ADD_TIME,zz,123456789,1,0,false,false\n"
	if _, err := EncodeCSV(strings.NewReader(in), failWriter{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("output failure: err = %v", err)
	}
	if _, err := EncodeCSV(strings.NewReader(in), &bytes.Buffer{}, failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("report failure: err = %v", err)
	}
}
