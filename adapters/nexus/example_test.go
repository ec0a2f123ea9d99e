package nexus_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/payg-gateway/gateway/adapters/nexus"
)

func ExampleFullEncoder_AddCredit() {
	key := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4)
	enc, err := nexus.NewFullEncoder(key)
	if err != nil {
		panic(err)
	}
	code, err := enc.AddCredit(42, 7*24) // message id 42, one week
	if err != nil {
		panic(err)
	}
	fmt.Println(code)
	// Output: *599 791 493 194 43#
}

func ExampleSmallEncoder_AddCredit() {
	key := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4)
	enc, err := nexus.NewSmallEncoder(key)
	if err != nil {
		panic(err)
	}
	code, err := enc.AddCredit(42, 7) // message id 42, 7 days
	if err != nil {
		panic(err)
	}
	fmt.Println(code)
	// Output: 135 242 422 455 244
}

func ExampleEncodeCSV() {
	in := strings.NewReader(`protocol,message_type,secret_key_hex,message_id,value
full,ADD_CREDIT,deadbeefdeadbeefdeadbeefdeadbeef,42,168
small,ADD_CREDIT,deadbeefdeadbeefdeadbeefdeadbeef,42,999
small,UNLOCK,deadbeefdeadbeefdeadbeefdeadbeef,45,
`)
	var errs strings.Builder
	bad, err := nexus.EncodeCSV(in, os.Stdout, &errs)
	fmt.Print(errs.String())
	fmt.Println(bad, err)
	// Output:
	// keycode
	// *599 791 493 194 43#
	// ""
	// 152 323 254 454 322
	// row 2: days 999 out of range 1..405
	// 1 <nil>
}
