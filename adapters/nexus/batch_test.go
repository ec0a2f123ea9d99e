package nexus

import (
	"encoding/csv"
	"errors"
	"strings"
	"testing"
)

const key = "deadbeefdeadbeefdeadbeefdeadbeef"

func TestEncodeCSVMalformedRows(t *testing.T) {
	in := strings.Join([]string{
		"protocol,message_type,secret_key_hex,message_id,value",
		"full,ADD_CREDIT," + key + ",42,168",                               // 1 ok
		"full,ADD_CREDIT,deadbeefzz,42,168",                                // 2 bad hex
		"full,ADD_CREDIT,deadbeef,42,168",                                  // 3 short key
		"full,ADD_CREDIT," + key + ",42,100000",                            // 4 hours out of range
		"small,ADD_CREDIT," + key + ",42,406",                              // 5 days out of range
		"full,TOP_UP," + key + ",42,1",                                     // 6 unknown type
		"medium,ADD_CREDIT," + key + ",42,1",                               // 7 unknown protocol
		"full,ADD_CREDIT," + key + ",,168",                                 // 8 missing id
		"full,ADD_CREDIT," + key + ",42",                                   // 9 short row
		"full,ADD_CREDIT," + key + ",-1,168",                               // 10 bad id
		"full,ADD_CREDIT," + key + ",4294967296,168",                       // 11 id too big
		"small,WIPE_STATE," + key + ",42,WIPE_IDS_ALL",                     // 12 type not in protocol
		"full,UNLOCK," + key + ",42,99999",                                 // 13 value on unlock
		"small,MAINTENANCE," + key + ",3,WIPE_IDS_ALL",                     // 14 id on maintenance
		`full,ADD"CREDIT,` + key + ",42,1",                                 // 15 malformed CSV
		"small,EXTENDED_SET_CREDIT_WIPE_RESTRICTED_FLAG," + key + ",50,84", // 16 id collision
		",,,,",                            // 17 empty row
		"full,UNLOCK," + key + ",44,",     // 18 ok
		"full,FACTORY_ALLOW_TEST,,,",      // 19 ok without key and id
		"small,TEST,,0,SHORT_TEST",        // 20 ok without key
		"full,ADD_CREDIT," + key + ",42,", // 21 missing value
	}, "\n") + "\n"
	var out, errOut strings.Builder
	bad, err := EncodeCSV(strings.NewReader(in), &out, &errOut)
	if err != nil {
		t.Fatalf("EncodeCSV: %v", err)
	}

	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	want := []string{
		"keycode",
		"*599 791 493 194 43#",
		"", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
		"*578 396 697 305 45#",
		"*406 498 3#",
		"143 253 222 433 244",
		"",
	}
	if len(rows) != len(want) {
		t.Fatalf("output has %d rows, want %d:\n%s", len(rows), len(want), out.String())
	}
	for i, r := range rows {
		if len(r) != 1 || r[0] != want[i] {
			t.Errorf("output row %d = %q, want %q", i, r, want[i])
		}
	}

	wantErrs := []string{
		"row 2: secret_key_hex is not valid hex",
		"row 3: secret key must be 16 bytes, got 4",
		"row 4: hours 100000 out of range",
		"row 5: days 406 out of range",
		`row 6: unknown message type "TOP_UP"`,
		`row 7: unknown protocol "medium"`,
		"row 8: missing message_id",
		"row 9: missing value",
		`row 10: message_id "-1" is not a number`,
		`row 11: message_id "4294967296" is not a number`,
		"row 12: message type WIPE_STATE is not defined for the small protocol",
		`row 13: UNLOCK takes no value, got "99999"`,
		"row 14: MAINTENANCE always uses message id 0, got 3",
		"row 15: malformed CSV",
		"row 16: message id 50 cannot be used",
		"row 17: missing protocol",
		"row 21: missing value",
	}
	lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
	if len(lines) != len(wantErrs) || bad != len(wantErrs) {
		t.Fatalf("badRows = %d, errOut has %d lines, want %d:\n%s", bad, len(lines), len(wantErrs), errOut.String())
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, wantErrs[i]) {
			t.Errorf("errOut line %d = %q, want prefix %q", i+1, line, wantErrs[i])
		}
	}
}

func TestEncodeCSVColumnsByName(t *testing.T) {
	in := "\ufeffNote, Value ,message_id,expected,SECRET_KEY_HEX,message_type,protocol\r\n" +
		"first,168,42,x," + key + ",ADD_CREDIT,full\r\n" +
		"\r\n" + // blank lines are not rows
		`"with, comma",7,42,y,` + key + ",ADD_CREDIT,small\r\n"
	var out, errOut strings.Builder
	bad, err := EncodeCSV(strings.NewReader(in), &out, &errOut)
	if err != nil || bad != 0 || errOut.Len() != 0 {
		t.Fatalf("EncodeCSV: bad=%d err=%v errOut=%q", bad, err, errOut.String())
	}
	want := "keycode\n*599 791 493 194 43#\n135 242 422 455 244\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

func TestEncodeCSVHeaderErrors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"missing value", "protocol,message_type,secret_key_hex,message_id\nfull,UNLOCK," + key + ",1\n"},
		{"missing several", "protocol,message_type\n"},
		{"repeated", "protocol,message_type,secret_key_hex,message_id,value,Protocol\n"},
		{"malformed", "protocol,\"message_type\n"},
	}
	for _, tt := range tests {
		var out, errOut strings.Builder
		_, err := EncodeCSV(strings.NewReader(tt.in), &out, &errOut)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
		} else if !strings.HasPrefix(err.Error(), "nexus: ") {
			t.Errorf("%s: error %q lacks the nexus: prefix", tt.name, err)
		}
	}
}

func TestEncodeCSVHeaderOnly(t *testing.T) {
	var out, errOut strings.Builder
	bad, err := EncodeCSV(strings.NewReader("protocol,message_type,secret_key_hex,message_id,value\n"), &out, &errOut)
	if err != nil || bad != 0 || out.String() != "keycode\n" {
		t.Errorf("EncodeCSV = %d, %v, output %q", bad, err, out.String())
	}
}

var errWrite = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

type failReader struct{ data string }

func (r *failReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, errWrite
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestEncodeCSVIOErrors(t *testing.T) {
	in := "protocol,message_type,secret_key_hex,message_id,value\nfull,UNLOCK," + key + ",1,\n"
	if _, err := EncodeCSV(strings.NewReader(in), failWriter{}, &strings.Builder{}); !errors.Is(err, errWrite) {
		t.Errorf("failing output: err = %v, want %v", err, errWrite)
	}
	badIn := "protocol,message_type,secret_key_hex,message_id,value\nfull,UNLOCK,,1,\n"
	if _, err := EncodeCSV(strings.NewReader(badIn), &strings.Builder{}, failWriter{}); !errors.Is(err, errWrite) {
		t.Errorf("failing errOut: err = %v, want %v", err, errWrite)
	}
	if _, err := EncodeCSV(&failReader{data: in}, &strings.Builder{}, &strings.Builder{}); !errors.Is(err, errWrite) {
		t.Errorf("failing input: err = %v, want %v", err, errWrite)
	}
}
