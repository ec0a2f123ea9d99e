package main

import (
	"fmt"
	"io"
	"os"

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
