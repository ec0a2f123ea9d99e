package nexus

import (
	"bufio"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CSV column names read by EncodeCSV.
const (
	colProtocol    = "protocol"
	colMessageType = "message_type"
	colKey         = "secret_key_hex"
	colMessageID   = "message_id"
	colValue       = "value"
)

// csvColumns holds the index of each input column EncodeCSV reads.
type csvColumns struct {
	protocol, messageType, key, messageID, value int
}

// EncodeCSV encodes a batch of keycodes, as for
// "gateway token nexus encode --csv FILE".
//
// The input is CSV with a header row. The columns protocol, message_type,
// secret_key_hex, message_id and value are found by header name
// (case-insensitive, in any order); other columns, such as the expected_*
// columns of the test vectors, are ignored. Fields are spelt as in the test
// vectors (see [Request] and the [MessageType] constants); surrounding
// space is ignored. value is empty for types without one. message_id may be
// empty (or 0) for the factory, MAINTENANCE and TEST types, which always use
// id 0, and secret_key_hex may be empty for the factory and TEST types,
// which use fixed keys.
//
// The output is CSV with the header "keycode" and then exactly one row per
// input data row, in input order, each holding the keycode formatted as the
// vectors' expected_keycode. A row that cannot be encoded (malformed CSV,
// bad hex, wrong key length, value out of range, unknown protocol or type,
// missing field) is reported on errOut as "row N: reason", where N is the
// 1-based data row number: the header is not counted, so the first row
// after the header is row 1. Its output row is an empty field, written as
// "" so that CSV readers keep it and rows stay aligned. The other rows are
// still encoded. badRows is the number of such rows. Blank input lines are
// not rows (as usual for CSV) and produce no output.
//
// err is non-nil only for I/O errors and header problems (no header, a
// required column missing or repeated); the output may then be incomplete.
func EncodeCSV(in io.Reader, out, errOut io.Writer) (badRows int, err error) {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1 // short and long rows are reported per row
	r.ReuseRecord = true

	header, err := r.Read()
	if err == io.EOF {
		return 0, errors.New("nexus: CSV input is empty: want a header row")
	}
	if err != nil {
		return 0, fmt.Errorf("nexus: reading CSV header: %w", err)
	}
	cols, err := findColumns(header)
	if err != nil {
		return 0, err
	}

	w := bufio.NewWriter(out)
	ew := bufio.NewWriter(errOut)
	if _, err := w.WriteString("keycode\n"); err != nil {
		return 0, fmt.Errorf("nexus: writing output: %w", err)
	}
	for row := 1; ; row++ {
		record, err := r.Read()
		if err == io.EOF {
			break
		}
		var keycode string
		var rowErr error
		var parseErr *csv.ParseError
		switch {
		case errors.As(err, &parseErr):
			rowErr = fmt.Errorf("malformed CSV: %w", parseErr.Err)
		case err != nil:
			return badRows, flushAll(fmt.Errorf("nexus: reading CSV row %d: %w", row, err), w, ew)
		default:
			keycode, rowErr = encodeRecord(record, cols)
		}
		if rowErr != nil {
			badRows++
			keycode = `""`
			reason := strings.TrimPrefix(rowErr.Error(), "nexus: ")
			if _, err := fmt.Fprintf(ew, "row %d: %s\n", row, reason); err != nil {
				return badRows, flushAll(fmt.Errorf("nexus: writing errors: %w", err), w, ew)
			}
		}
		if _, err := w.WriteString(keycode + "\n"); err != nil {
			return badRows, flushAll(fmt.Errorf("nexus: writing output: %w", err), w, ew)
		}
	}
	return badRows, flushAll(nil, w, ew)
}

// flushAll flushes the writers and returns err, or else the first flush
// error.
func flushAll(err error, ws ...*bufio.Writer) error {
	for _, w := range ws {
		if ferr := w.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("nexus: writing output: %w", ferr)
		}
	}
	return err
}

// findColumns locates the required columns in the header row.
func findColumns(header []string) (csvColumns, error) {
	idx := map[string]int{
		colProtocol: -1, colMessageType: -1, colKey: -1, colMessageID: -1, colValue: -1,
	}
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // UTF-8 byte order mark
		}
		name = strings.ToLower(strings.TrimSpace(name))
		prev, ok := idx[name]
		if !ok {
			continue
		}
		if prev >= 0 {
			return csvColumns{}, fmt.Errorf("nexus: CSV header repeats column %q", name)
		}
		idx[name] = i
	}
	var missing []string
	for _, name := range []string{colProtocol, colMessageType, colKey, colMessageID, colValue} {
		if idx[name] < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return csvColumns{}, fmt.Errorf("nexus: CSV header lacks column(s) %s", strings.Join(missing, ", "))
	}
	return csvColumns{
		protocol:    idx[colProtocol],
		messageType: idx[colMessageType],
		key:         idx[colKey],
		messageID:   idx[colMessageID],
		value:       idx[colValue],
	}, nil
}

// encodeRecord encodes one CSV data row.
func encodeRecord(record []string, cols csvColumns) (string, error) {
	field := func(i int) string {
		if i < len(record) {
			return strings.TrimSpace(record[i])
		}
		return ""
	}

	var req Request
	var err error
	s := field(cols.protocol)
	if s == "" {
		return "", missing(colProtocol)
	}
	if req.Protocol, err = ParseProtocol(s); err != nil {
		return "", err
	}
	s = field(cols.messageType)
	if s == "" {
		return "", missing(colMessageType)
	}
	if req.Type, err = ParseMessageType(s); err != nil {
		return "", err
	}
	if !req.Type.ValidFor(req.Protocol) {
		return "", fmt.Errorf("nexus: message type %v is not defined for the %v protocol", req.Type, req.Protocol)
	}

	s = field(cols.key)
	switch {
	case s == "" && req.Type.usesKey():
		return "", missing(colKey)
	case s != "":
		if req.Key, err = hex.DecodeString(s); err != nil {
			return "", fmt.Errorf("nexus: %s is not valid hex: %v", colKey, err)
		}
		if _, _, err := splitKey(req.Key); err != nil {
			return "", err
		}
	}

	s = field(cols.messageID)
	switch {
	case s == "" && req.Type.usesID():
		return "", missing(colMessageID)
	case s != "":
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return "", fmt.Errorf("nexus: %s %q is not a number in 0..4294967295", colMessageID, s)
		}
		req.ID = uint32(id)
	}

	req.Value = field(cols.value)
	if req.Value == "" && req.Type.usesValue() {
		return "", missing(colValue)
	}
	return Encode(req)
}

// missing reports an empty or absent required field.
func missing(col string) error {
	return fmt.Errorf("nexus: missing %s", col)
}
