package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testdata = "../../../shared/testdata"

func readCSV(t *testing.T, data []byte) (header []string, rows []map[string]string) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v\n%s", err, data)
	}
	if len(recs) == 0 {
		t.Fatal("empty CSV")
	}
	for _, r := range recs[1:] {
		m := make(map[string]string, len(r))
		for i, v := range r {
			m[recs[0][i]] = v
		}
		rows = append(rows, m)
	}
	return recs[0], rows
}

func runToken(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"token"}, args...), env{
		stdout: &out, stderr: &errOut, lookup: func(string) (string, bool) { return "", false },
	})
	return code, out.String(), errOut.String()
}

// TestTokenCommandsReproduceVectors drives the command line contract over
// the reference vectors, as the tools that call it will.
func TestTokenCommandsReproduceVectors(t *testing.T) {
	cases := []struct {
		args      []string
		file      string
		outHeader string
		compare   map[string]string // output column -> vector column
		skip      func(row map[string]string) bool
	}{
		{
			args: []string{"openpaygo", "encode"}, file: "openpaygo/vectors.csv", outHeader: "token,new_count",
			compare: map[string]string{"token": "expected_token", "new_count": "expected_new_count"},
		},
		{
			args: []string{"openpaygo", "decode"}, file: "openpaygo/decode_vectors.csv", outHeader: "token_type,value_raw,count,used_counts",
			compare: map[string]string{"token_type": "expected_token_type", "value_raw": "expected_value_raw", "count": "expected_count"},
			// The README lets a strict decoder differ on the reference's
			// quirk rows; adapters/openpaygo pins what it does on them.
			skip: func(r map[string]string) bool {
				return strings.HasPrefix(r["note"], "empty_used_counts_quirk;") || strings.HasPrefix(r["note"], "quirk_after_counter_sync_backward;")
			},
		},
		{
			args: []string{"nexus", "encode"}, file: "nexus/vectors.csv", outHeader: "keycode",
			compare: map[string]string{"keycode": "expected_keycode"},
		},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			path := filepath.Join(testdata, tc.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, want := readCSV(t, data)
			code, stdout, stderr := runToken(t, append(tc.args, "--csv", path)...)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			header, got := readCSV(t, []byte(stdout))
			if strings.Join(header, ",") != tc.outHeader {
				t.Fatalf("header %q, want %q", strings.Join(header, ","), tc.outHeader)
			}
			if len(got) != len(want) {
				t.Fatalf("%d output rows for %d input rows", len(got), len(want))
			}
			checked := 0
			for i := range want {
				if tc.skip != nil && tc.skip(want[i]) {
					continue
				}
				checked++
				for outCol, vecCol := range tc.compare {
					if got[i][outCol] != want[i][vecCol] {
						t.Errorf("row %d: %s = %q, want %q", i+1, outCol, got[i][outCol], want[i][vecCol])
					}
				}
			}
			if checked == 0 {
				t.Fatal("no rows compared")
			}
		})
	}
}

func TestTokenCommandReportsMalformedRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.csv")
	body := "token_type,secret_key_hex,starting_code,value_raw,count,restricted_digit_set,extended\n" +
		"ADD_TIME,bc41ec9530f6dac86b1a29ab82edc5fb,516959010,60,4096,false,false\n" +
		"ADD_TIME,not-hex,516959010,60,4096,false,false\n" +
		"ADD_TIME,bc41ec9530f6dac86b1a29ab82edc5fb,516959010,5,3,false,false\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runToken(t, "openpaygo", "encode", "--csv", path)
	if code == 0 {
		t.Fatal("exit 0 with a malformed row")
	}
	if !strings.Contains(stderr, "row 2:") {
		t.Errorf("stderr does not name row 2: %q", stderr)
	}
	_, rows := readCSV(t, []byte(stdout))
	if len(rows) != 3 || rows[0]["token"] != "344026070" || rows[2]["token"] != "361434015" {
		t.Errorf("good rows not printed in order around the bad one: %q", stdout)
	}
}

func TestTokenUsage(t *testing.T) {
	if code, _, stderr := runToken(t, "openpaygo", "frob", "--csv", "x"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runToken(t, "nexus", "encode"); code != 2 {
		t.Errorf("missing --csv: exit %d, want 2", code)
	}
}

// TestOpenPAYGOByHand encodes the first vector by flags and decodes it back.
func TestOpenPAYGOByHand(t *testing.T) {
	code, out, errOut := runToken(t, "openpaygo", "encode", "--key", "bc41ec9530f6dac86b1a29ab82edc5fb",
		"--starting-code", "516959010", "--count", "4096", "--type", "add", "--days", "60")
	if code != 0 || strings.TrimSpace(out) != "token=344026070 count=4098 type=ADD_TIME value=60" {
		t.Fatalf("encode: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runToken(t, "openpaygo", "decode", "--key", "bc41ec9530f6dac86b1a29ab82edc5fb",
		"--starting-code", "516959010", "--last-count", "4096", "--token", "344026070")
	if code != 0 || !strings.Contains(out, "type=ADD_TIME value=60") || !strings.Contains(out, "count=4098 accepted=true") {
		t.Fatalf("decode: exit %d, %q %q", code, out, errOut)
	}
	if code, _, _ := runToken(t, "openpaygo", "encode", "--key", "bc41ec9530f6dac86b1a29ab82edc5fb", "--count", "1", "--type", "teleport"); code == 0 {
		t.Error("an unknown --type was accepted")
	}
}
