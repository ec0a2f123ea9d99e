package nexus

import (
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

const vectorsPath = "../../../shared/testdata/nexus/vectors.csv"

// vectorRows is the number of data rows in vectors.csv.
const vectorRows = 287

// vector is one row of vectors.csv.
type vector struct {
	row                                   int // 1-based data row
	protocol, messageType, key, id, value string
	body, keycode, digits, unobscured     string
}

func (v vector) String() string {
	return fmt.Sprintf("row %d %s/%s key=%s id=%s value=%q", v.row, v.protocol, v.messageType, v.key, v.id, v.value)
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	for _, name := range []string{"protocol", "message_type", "secret_key_hex", "message_id", "value", "body",
		"expected_keycode", "expected_digits", "expected_unobscured_digits"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("vectors.csv lacks column %q", name)
		}
	}
	var vs []vector
	for i, r := range records[1:] {
		vs = append(vs, vector{
			row:         i + 1,
			protocol:    r[col["protocol"]],
			messageType: r[col["message_type"]],
			key:         r[col["secret_key_hex"]],
			id:          r[col["message_id"]],
			value:       r[col["value"]],
			body:        r[col["body"]],
			keycode:     r[col["expected_keycode"]],
			digits:      r[col["expected_digits"]],
			unobscured:  r[col["expected_unobscured_digits"]],
		})
	}
	if len(vs) != vectorRows {
		t.Fatalf("vectors.csv has %d data rows, want %d", len(vs), vectorRows)
	}
	return vs
}

// request converts a vector row to a Request the way a caller would.
func (v vector) request(t *testing.T) Request {
	t.Helper()
	p, err := ParseProtocol(v.protocol)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := ParseMessageType(v.messageType)
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(v.key)
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	if v.id != "" {
		if id, err = strconv.ParseUint(v.id, 10, 32); err != nil {
			t.Fatal(err)
		}
	}
	return Request{Protocol: p, Type: mt, Key: key, ID: uint32(id), Value: v.value}
}

// TestVectors reproduces every row of vectors.csv through Encode.
func TestVectors(t *testing.T) {
	matched := 0
	for _, v := range loadVectors(t) {
		got, err := Encode(v.request(t))
		if err != nil {
			t.Errorf("%v: Encode: %v", v, err)
			continue
		}
		if got != v.keycode {
			t.Errorf("%v: Encode = %q, want %q", v, got, v.keycode)
			continue
		}
		if d := stripKeycode(got); d != v.digits {
			t.Errorf("%v: digits %q, want %q", v, d, v.digits)
			continue
		}
		matched++
	}
	t.Logf("matched %d/%d rows", matched, vectorRows)
}

// TestVectorsTypedAPI reproduces every row through the typed encoders.
func TestVectorsTypedAPI(t *testing.T) {
	for _, v := range loadVectors(t) {
		got, err := encodeTyped(v.request(t))
		if err != nil {
			t.Errorf("%v: %v", v, err)
		} else if got != v.keycode {
			t.Errorf("%v: got %q, want %q", v, got, v.keycode)
		}
	}
}

// encodeTyped encodes r with the typed API rather than Encode.
func encodeTyped(r Request) (string, error) {
	amount := func() int {
		n, _ := strconv.Atoi(r.Value)
		return n
	}
	switch r.Type {
	case FactoryAllowTest:
		return EncodeFactoryAllowTest(), nil
	case FactoryDisplayPAYGID:
		return EncodeFactoryDisplayPAYGID(), nil
	case FactoryOQCTest:
		return EncodeFactoryOQCTest(amount())
	case Test:
		tt, err := ParseTestType(r.Value)
		if err != nil {
			return "", err
		}
		return EncodeSmallTest(tt)
	}
	if r.Protocol == Full {
		e, err := NewFullEncoder(r.Key)
		if err != nil {
			return "", err
		}
		switch r.Type {
		case AddCredit:
			return e.AddCredit(r.ID, amount())
		case SetCredit:
			return e.SetCredit(r.ID, amount())
		case Unlock:
			return e.Unlock(r.ID), nil
		case WipeState:
			f, err := ParseWipeFlag(r.Value)
			if err != nil {
				return "", err
			}
			return e.WipeState(r.ID, f)
		}
		return "", fmt.Errorf("unexpected full type %v", r.Type)
	}
	e, err := NewSmallEncoder(r.Key)
	if err != nil {
		return "", err
	}
	switch r.Type {
	case AddCredit:
		return e.AddCredit(r.ID, amount())
	case SetCredit:
		return e.SetCredit(r.ID, amount())
	case Unlock:
		return e.Unlock(r.ID), nil
	case SetCreditUnlock:
		return e.SetCreditUnlock(r.ID), nil
	case Maintenance:
		m, err := ParseMaintenanceType(r.Value)
		if err != nil {
			return "", err
		}
		return e.Maintenance(m)
	case CustomCommand:
		c, err := ParseCustomCommandType(r.Value)
		if err != nil {
			return "", err
		}
		return e.CustomCommand(r.ID, c)
	case ExtendedSetCreditWipeRestrictedFlag:
		return e.ExtendedSetCreditWipeRestrictedFlag(r.ID, amount())
	}
	return "", fmt.Errorf("unexpected small type %v", r.Type)
}

// TestVectorsUnobscured checks the obscuring step and the body layout
// against the expected_unobscured_digits and body columns.
func TestVectorsUnobscured(t *testing.T) {
	for _, v := range loadVectors(t) {
		switch {
		case v.protocol == "full" && len(v.digits) == 14:
			var d [14]byte
			for i := range d {
				d[i] = v.digits[i] - '0'
			}
			deobscureFull(&d)
			if got := digitString(d[:]); got != v.unobscured {
				t.Errorf("%v: deobscured %s, want %s", v, got, v.unobscured)
			}
			if got := v.unobscured[3:8]; got != v.body {
				t.Errorf("%v: body digits %s, want %s", v, got, v.body)
			}
		case v.protocol == "full": // factory: not obscured
			if v.digits != v.unobscured {
				t.Errorf("%v: factory digits %s differ from unobscured %s", v, v.digits, v.unobscured)
			}
			if got := v.unobscured[1 : len(v.unobscured)-6]; got != v.body {
				t.Errorf("%v: body digits %q, want %q", v, got, v.body)
			}
		default:
			msg, err := parseSmallDigits(v.digits)
			if err != nil {
				t.Errorf("%v: %v", v, err)
				continue
			}
			plain := obscureSmall(msg) // obscuring is its own inverse
			if got := smallDigits(plain); got != v.unobscured {
				t.Errorf("%v: deobscured %s, want %s", v, got, v.unobscured)
			}
			var body string
			if v.messageType == "EXTENDED_SET_CREDIT_WIPE_RESTRICTED_FLAG" {
				if typ := plain >> 20 & 3; typ != smallPassthrough {
					t.Errorf("%v: type code %d, want passthrough", v, typ)
				}
				payload := plain>>22<<20 | plain&0xFFFFF
				body = fmt.Sprintf("%026b", payload)
			} else {
				body = strconv.Itoa(int(plain >> 12 & 0xFF))
			}
			if body != v.body {
				t.Errorf("%v: body %s, want %s", v, body, v.body)
			}
		}
	}
}

// TestEncodeCSVVectors runs the real vectors file through EncodeCSV.
func TestEncodeCSVVectors(t *testing.T) {
	vs := loadVectors(t)
	f, err := os.Open(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out, errOut strings.Builder
	bad, err := EncodeCSV(f, &out, &errOut)
	if err != nil || bad != 0 || errOut.Len() != 0 {
		t.Fatalf("EncodeCSV: bad=%d err=%v errOut=%q", bad, err, errOut.String())
	}
	got, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(vs)+1 || len(got[0]) != 1 || got[0][0] != "keycode" {
		t.Fatalf("output has %d rows, header %q; want %d rows, header keycode", len(got), got[0], len(vs)+1)
	}
	for i, v := range vs {
		if got[i+1][0] != v.keycode {
			t.Errorf("%v: EncodeCSV wrote %q, want %q", v, got[i+1][0], v.keycode)
		}
	}
}

// deobscureFull undoes obscureFull.
func deobscureFull(d *[14]byte) {
	var seed [4]byte
	v := digitsValue(d[8:14])
	seed[0], seed[1], seed[2], seed[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	p := pseudorandom(seed[:])
	for i := range 8 {
		d[i] = byte((int(d[i]) + 10 - int(p[i])%10) % 10)
	}
}

// stripKeycode removes '*', '#' and spaces from a keycode.
func stripKeycode(s string) string {
	return strings.NewReplacer("*", "", "#", "", " ", "").Replace(s)
}

func digitString(d []byte) string {
	b := make([]byte, len(d))
	for i, c := range d {
		b[i] = '0' + c
	}
	return string(b)
}

// parseSmallDigits parses the 15 stripped small-protocol digits into the
// 28-bit message.
func parseSmallDigits(s string) (uint32, error) {
	if len(s) != 15 || s[0] != '1' {
		return 0, fmt.Errorf("bad small digits %q", s)
	}
	var msg uint32
	for _, c := range s[1:] {
		if c < '2' || c > '5' {
			return 0, fmt.Errorf("bad small digits %q", s)
		}
		msg = msg<<2 | uint32(c-'2')
	}
	return msg, nil
}

func smallDigits(msg uint32) string {
	return stripKeycode(renderSmall(msg))
}
