package openpaygo

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// EncodeCSV issues one token per data row of the CSV read from in and writes
// a CSV with header "token,new_count" to out, one row per input row, in
// order.
//
// The input has a header row. The columns token_type, secret_key_hex,
// starting_code, value_raw, count, restricted_digit_set and extended are
// found by name, in any order; other columns are ignored. token_type is
// spelled as in ParseTokenType. An empty starting_code means the code
// derived from the key (DeriveStartingCode). value_raw is the integer
// encoded; for DISABLE_PAYG and COUNTER_SYNC it may be empty, 0 or the
// reserved value (998 or 999). count is the stored count. The flags are
// true or false (anything strconv.ParseBool accepts).
//
// A row that cannot be encoded (bad hex, value out of range, unknown type,
// missing field, ...) is reported on errOut as "row N: reason", where N is
// the 1-based data row number, not counting the header. Its output row is
// written with empty fields (",") so that output rows stay aligned with
// input rows; badRows counts such rows. err reports only problems with the
// file as a whole: reading or writing fails, the header is missing or lacks
// a column, or the CSV syntax is broken (an unterminated quote, for
// example), after which rows cannot be aligned and processing stops.
func EncodeCSV(in io.Reader, out, errOut io.Writer) (badRows int, err error) {
	return processCSV(in, out, errOut,
		[]string{"token_type", "secret_key_hex", "starting_code", "value_raw", "count", "restricted_digit_set", "extended"},
		[]string{"token", "new_count"},
		encodeRow)
}

// DecodeCSV decodes one token per data row of the CSV read from in, as the
// device described by the row would, and writes a CSV with header
// "token_type,value_raw,count,used_counts" to out, one row per input row, in
// order.
//
// The columns secret_key_hex, starting_code, restricted_digit_set,
// value_divider, last_count, used_counts and token are found by name, in
// any order; other columns are ignored. An empty starting_code means the
// code derived from the key, and an empty value_divider means 1.
// used_counts is a ";"-separated list of integers; empty means an empty
// list (see State.UsedCounts for how that is treated).
//
// The output uses the formats of the expected_* columns of the decoder test
// vectors: token_type is ADD_TIME, SET_TIME, DISABLE_PAYG, COUNTER_SYNC,
// ALREADY_USED or INVALID; value_raw, count and used_counts (";"-separated)
// are filled in for accepted tokens only. Invalid and already-used tokens
// are results, not bad rows. Bad rows (including malformed tokens) and err
// are handled as in EncodeCSV; a bad row is written as ",,,".
func DecodeCSV(in io.Reader, out, errOut io.Writer) (badRows int, err error) {
	return processCSV(in, out, errOut,
		[]string{"secret_key_hex", "starting_code", "restricted_digit_set", "value_divider", "last_count", "used_counts", "token"},
		[]string{"token_type", "value_raw", "count", "used_counts"},
		decodeRow)
}

// row gives access to the named fields of one data row.
type row struct {
	cols   map[string]int
	record []string
}

// field returns the trimmed value of column name, or an error if the row is
// too short to have it.
func (r row) field(name string) (string, error) {
	i := r.cols[name]
	if i >= len(r.record) {
		return "", fmt.Errorf("%s: missing field", name)
	}
	return strings.TrimSpace(r.record[i]), nil
}

// required is field for columns that must not be empty.
func (r row) required(name string) (string, error) {
	v, err := r.field(name)
	if err == nil && v == "" {
		err = fmt.Errorf("%s: empty field", name)
	}
	return v, err
}

func (r row) int(name string) (int, error) {
	v, err := r.required(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: not an integer: %q", name, v)
	}
	return n, nil
}

func (r row) bool(name string) (bool, error) {
	v, err := r.required(name)
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: not true or false: %q", name, v)
	}
	return b, nil
}

// device reads the device columns shared by both formats.
func (r row) device() (Device, error) {
	var d Device
	keyHex, err := r.required("secret_key_hex")
	if err != nil {
		return d, err
	}
	if d.Key, err = ParseKey(keyHex); err != nil {
		return d, fmt.Errorf("secret_key_hex: %w", err)
	}
	sc, err := r.field("starting_code")
	if err != nil {
		return d, err
	}
	if sc == "" {
		d.StartingCode = DeriveStartingCode(d.Key)
	} else if d.StartingCode, err = r.int("starting_code"); err != nil {
		return d, err
	}
	if d.Restricted, err = r.bool("restricted_digit_set"); err != nil {
		return d, err
	}
	return d, d.validate()
}

// encodeRow encodes one row of EncodeCSV.
func encodeRow(r row) ([]string, error) {
	typeName, err := r.required("token_type")
	if err != nil {
		return nil, err
	}
	typ, err := ParseTokenType(typeName)
	if err != nil {
		return nil, fmt.Errorf("token_type: %w", err)
	}
	d, err := r.device()
	if err != nil {
		return nil, err
	}
	value, err := r.field("value_raw")
	if err != nil {
		return nil, err
	}
	raw := 0
	switch {
	case typ == DisablePAYG && value == strconv.Itoa(DisablePAYGValue),
		typ == CounterSync && value == strconv.Itoa(CounterSyncValue),
		(typ == DisablePAYG || typ == CounterSync) && value == "":
		// The reserved value, written out or left implicit.
	default:
		if raw, err = r.int("value_raw"); err != nil {
			return nil, err
		}
	}
	count, err := r.int("count")
	if err != nil {
		return nil, err
	}
	extended, err := r.bool("extended")
	if err != nil {
		return nil, err
	}
	encode := d.Encode
	if extended {
		encode = d.EncodeExtended
	}
	token, newCount, err := encode(typ, raw, count)
	if err != nil {
		return nil, err
	}
	return []string{token, strconv.Itoa(newCount)}, nil
}

// decodeRow decodes one row of DecodeCSV.
func decodeRow(r row) ([]string, error) {
	d, err := r.device()
	if err != nil {
		return nil, err
	}
	div, err := r.field("value_divider")
	if err != nil {
		return nil, err
	}
	if div != "" {
		if d.ValueDivider, err = r.int("value_divider"); err != nil {
			return nil, err
		}
		if d.ValueDivider < 1 || d.ValueDivider > MaxValueDivider {
			return nil, fmt.Errorf("value_divider: %w: %d (want 1..%d)", ErrInvalidDivider, d.ValueDivider, MaxValueDivider)
		}
	}
	var s State
	if s.LastCount, err = r.int("last_count"); err != nil {
		return nil, err
	}
	used, err := r.field("used_counts")
	if err != nil {
		return nil, err
	}
	if s.UsedCounts, err = parseCounts(used); err != nil {
		return nil, fmt.Errorf("used_counts: %w", err)
	}
	token, err := r.required("token")
	if err != nil {
		return nil, err
	}
	res, err := d.Decode(token, s)
	if err != nil {
		return nil, err
	}
	if !res.Accepted() {
		return []string{res.Type.String(), "", "", ""}, nil
	}
	return []string{res.Type.String(), strconv.Itoa(res.Value), strconv.Itoa(res.Count), formatCounts(res.UsedCounts)}, nil
}

// parseCounts parses a ";"-separated list of integers; "" is the empty list.
func parseCounts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ";")
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("not an integer: %q", p)
		}
		out[i] = n
	}
	return out, nil
}

// formatCounts writes counts as a ";"-separated list.
func formatCounts(counts []int) string {
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ";")
}

// processCSV reads the header, maps the wanted columns, and runs fn on each
// data row, writing its output or an empty row.
func processCSV(in io.Reader, out, errOut io.Writer, inCols, outCols []string, fn func(row) ([]string, error)) (badRows int, err error) {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1 // short rows are reported per row
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return 0, errors.New("openpaygo: csv: no header row")
	}
	if err != nil {
		return 0, fmt.Errorf("openpaygo: csv header: %w", err)
	}
	cols, err := columnIndex(header, inCols)
	if err != nil {
		return 0, err
	}

	w := csv.NewWriter(out)
	if err := w.Write(outCols); err != nil {
		return 0, fmt.Errorf("openpaygo: csv: %w", err)
	}
	empty := make([]string, len(outCols))
	for n := 1; ; n++ {
		record, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Flush()
			return badRows, fmt.Errorf("openpaygo: csv: data row %d: %w", n, err)
		}
		fields, rowErr := fn(row{cols: cols, record: record})
		if rowErr != nil {
			badRows++
			fields = empty
			if _, err := fmt.Fprintf(errOut, "row %d: %v\n", n, rowErr); err != nil {
				w.Flush()
				return badRows, fmt.Errorf("openpaygo: writing error report: %w", err)
			}
		}
		if err := w.Write(fields); err != nil {
			return badRows, fmt.Errorf("openpaygo: csv: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return badRows, fmt.Errorf("openpaygo: csv: %w", err)
	}
	return badRows, nil
}

// columnIndex maps each wanted column name to its index in header.
func columnIndex(header, want []string) (map[string]int, error) {
	cols := make(map[string]int, len(want))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // UTF-8 byte order mark
		}
		if !slices.Contains(want, h) {
			continue
		}
		if _, dup := cols[h]; dup {
			return nil, fmt.Errorf("openpaygo: csv header: duplicate column %q", h)
		}
		cols[h] = i
	}
	var missing []string
	for _, name := range want {
		if _, ok := cols[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("openpaygo: csv header: missing column(s) %s", strings.Join(missing, ", "))
	}
	return cols, nil
}
