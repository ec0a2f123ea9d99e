package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
)

const tokenUsage = `Usage:
  gateway token openpaygo encode --csv FILE
  gateway token openpaygo decode --csv FILE
  gateway token nexus encode --csv FILE
FILE may be - for standard input. Results go to standard output as CSV; a
malformed row is reported with its row number on standard error, and the exit
status is 1 if any row was bad.

One token by hand (support work):
  gateway token openpaygo encode --key HEX [--starting-code N] --count N
      [--type add|set|disable|sync] [--days D | --value RAW] [--divider N]
      [--restricted] [--extended]
  gateway token openpaygo decode --key HEX [--starting-code N] --last-count N
      [--used-counts 1,2,3] [--divider N] [--restricted] --token CODE
`

// batchFunc is the shape of the engines' CSV batch tools.
type batchFunc func(in io.Reader, out, errOut io.Writer) (badRows int, err error)

func tokenCmd(args []string, e env) error {
	if len(args) < 2 {
		fmt.Fprint(e.stderr, tokenUsage)
		return errUsage
	}
	var batch batchFunc
	switch args[0] + " " + args[1] {
	case "openpaygo encode":
		batch = openpaygo.EncodeCSV
	case "openpaygo decode":
		batch = openpaygo.DecodeCSV
	case "nexus encode":
		batch = nexus.EncodeCSV
	default:
		fmt.Fprintf(e.stderr, "gateway token: unknown command %q\n%s", args[0]+" "+args[1], tokenUsage)
		return errUsage
	}
	if !hasFlag(args[2:], "csv") && args[0] == "openpaygo" {
		return openPAYGOByHand(args[1], args[2:], e)
	}
	fs := newFlagSet("token "+args[0]+" "+args[1], e)
	csvPath := fs.String("csv", "", "input CSV `file` with a header row, or - for standard input")
	if err := parseFlags(fs, args[2:]); err != nil {
		return err
	}
	if *csvPath == "" {
		fmt.Fprintln(e.stderr, "gateway token: --csv is required")
		return errUsage
	}
	return runBatch(batch, *csvPath, e)
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// openPAYGOByHand encodes or decodes one OpenPAYGO token from flags: what
// support staff use to answer "why does this customer's code not work?".
func openPAYGOByHand(verb string, args []string, e env) error {
	fs := newFlagSet("token openpaygo "+verb, e)
	keyHex := fs.String("key", "", "the device's secret key, 32 hex characters (required)")
	start := fs.Int("starting-code", -1, "the device's starting code (default: derived from the key)")
	divider := fs.Int("divider", 1, "activation units per day")
	restricted := fs.Bool("restricted", false, "restricted digit set (digits 1-4)")
	var count, lastCount, value *int
	var typ, used, token *string
	var days *float64
	var extended *bool
	switch verb {
	case "encode":
		count = fs.Int("count", -1, "count of the last token issued for the device (required)")
		typ = fs.String("type", "add", "add, set, disable or sync")
		days = fs.Float64("days", 0, "days of credit (add, set)")
		value = fs.Int("value", -1, "raw value instead of --days")
		extended = fs.Bool("extended", false, "extended 12-digit token")
	case "decode":
		lastCount = fs.Int("last-count", -1, "the device's last accepted count (required)")
		used = fs.String("used-counts", "", "counts the device has used, comma-separated")
		token = fs.String("token", "", "the code the customer typed (required)")
	default:
		fmt.Fprintf(e.stderr, "gateway token openpaygo: unknown command %q\n%s", verb, tokenUsage)
		return errUsage
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	key, err := openpaygo.ParseKey(*keyHex)
	if err != nil {
		return err
	}
	dev := openpaygo.Device{Key: key, StartingCode: *start, ValueDivider: *divider, Restricted: *restricted}
	if *start < 0 {
		dev.StartingCode = openpaygo.DeriveStartingCode(key)
	}
	if verb == "decode" {
		if *lastCount < 0 || *token == "" {
			fmt.Fprintln(e.stderr, "gateway token openpaygo decode: --last-count and --token are required")
			return errUsage
		}
		st := openpaygo.InitialState(*lastCount)
		if *used != "" {
			st.UsedCounts = nil
			for _, f := range strings.Split(*used, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil {
					return fmt.Errorf("--used-counts: %q is not a count", f)
				}
				st.UsedCounts = append(st.UsedCounts, n)
			}
		}
		res, err := dev.Decode(*token, st)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "type=%s value=%d days=%g count=%d accepted=%t\n", res.Type, res.Value, res.Days, res.Count, res.Accepted())
		return nil
	}
	if *count < 0 {
		fmt.Fprintln(e.stderr, "gateway token openpaygo encode: --count is required")
		return errUsage
	}
	types := map[string]openpaygo.TokenType{"add": openpaygo.AddTime, "set": openpaygo.SetTime,
		"disable": openpaygo.DisablePAYG, "sync": openpaygo.CounterSync}
	tt, ok := types[*typ]
	if !ok {
		return fmt.Errorf("--type %q: want add, set, disable or sync", *typ)
	}
	raw := *value
	if raw < 0 {
		raw = 0
		if tt == openpaygo.AddTime || tt == openpaygo.SetTime {
			if raw, err = dev.RawValue(*days); err != nil {
				return err
			}
		}
	}
	encode := dev.Encode
	if *extended {
		encode = dev.EncodeExtended
	}
	code, newCount, err := encode(tt, raw, *count)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "token=%s count=%d type=%s value=%d\n", code, newCount, tt, raw)
	return nil
}

func runBatch(batch batchFunc, path string, e env) error {
	in := e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	bad, err := batch(in, e.stdout, e.stderr)
	if err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d malformed row(s); see the messages above", bad)
	}
	return nil
}
