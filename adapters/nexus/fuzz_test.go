package nexus

import (
	"encoding/csv"
	"os"
	"regexp"
	"strings"
	"testing"
)

var keycodeRE = regexp.MustCompile(`^(\*\d{3}( \d{1,3})*#|1[2-5]{2}( [2-5]{3}){4})$`)

// FuzzEncodeCSV checks that EncodeCSV never panics, keeps one output row
// per data row and writes only well-formed keycodes or empty rows.
func FuzzEncodeCSV(f *testing.F) {
	if data, err := os.ReadFile(vectorsPath); err == nil {
		lines := strings.SplitAfter(string(data), "\n")
		for i := 1; i+1 < len(lines); i += 29 {
			f.Add(lines[0] + lines[i] + lines[i+1])
		}
	}
	f.Add("protocol,message_type,secret_key_hex,message_id,value\nfull,ADD_CREDIT," + key + ",42,168\n")
	f.Add("value,protocol,message_type,message_id,secret_key_hex\n1,small,ADD_CREDIT,1,zz\n\"a\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		var out, errOut strings.Builder
		bad, err := EncodeCSV(strings.NewReader(in), &out, &errOut)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "nexus: ") {
				t.Errorf("error %q lacks the nexus: prefix", err)
			}
			return
		}
		rows, rerr := csv.NewReader(strings.NewReader(out.String())).ReadAll()
		if rerr != nil || len(rows) == 0 || rows[0][0] != "keycode" {
			t.Fatalf("output is not keycode CSV: %v\n%q", rerr, out.String())
		}
		empty := 0
		for _, r := range rows[1:] {
			if len(r) != 1 {
				t.Fatalf("output row %q has %d fields", r, len(r))
			}
			if r[0] == "" {
				empty++
			} else if !keycodeRE.MatchString(r[0]) {
				t.Errorf("malformed keycode %q", r[0])
			}
		}
		errLines := strings.Count(errOut.String(), "\n")
		if empty != bad || errLines != bad {
			t.Errorf("badRows = %d, empty rows = %d, errOut lines = %d", bad, empty, errLines)
		}
	})
}

// FuzzParse checks that the Parse functions and Encode never panic, that
// parsed names round-trip through String and that errors carry the prefix.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"full", "small", "ADD_CREDIT", "TEST", "WIPE_IDS_ALL", "OQC_TEST",
		"WIPE_RESTRICTED_FLAG", "168", "-1", "99999999999999999999", " unlock ", ""} {
		f.Add(s, uint32(42), s)
	}
	f.Fuzz(func(t *testing.T, name string, id uint32, value string) {
		checkErr := func(err error) {
			if err != nil && !strings.HasPrefix(err.Error(), "nexus: ") {
				t.Errorf("error %q lacks the nexus: prefix", err)
			}
		}
		roundTrip := func(got string, err error) {
			checkErr(err)
			if err == nil && !strings.EqualFold(got, strings.TrimSpace(name)) {
				t.Errorf("parsed %q as %q", name, got)
			}
		}
		roundTrip(parseString(ParseProtocol)(name))
		roundTrip(parseString(ParseMessageType)(name))
		roundTrip(parseString(ParseWipeFlag)(name))
		roundTrip(parseString(ParseMaintenanceType)(name))
		roundTrip(parseString(ParseTestType)(name))
		roundTrip(parseString(ParseCustomCommandType)(name))

		for p := Protocol(0); p <= Small+1; p++ {
			for mt := MessageType(0); mt <= Test+1; mt++ {
				code, err := Encode(Request{Protocol: p, Type: mt, Key: []byte(key[:16]), ID: id, Value: value})
				checkErr(err)
				if err == nil && !keycodeRE.MatchString(code) {
					t.Errorf("Encode(%v, %v, %d, %q) = malformed %q", p, mt, id, value, code)
				}
			}
		}
	})
}
