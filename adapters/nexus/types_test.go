package nexus

import (
	"strings"
	"testing"
)

func TestParseProtocol(t *testing.T) {
	tests := []struct {
		in      string
		want    Protocol
		wantErr bool
	}{
		{"full", Full, false},
		{"small", Small, false},
		{"FULL", Full, false},
		{" Small ", Small, false},
		{"", 0, true},
		{"medium", 0, true},
		{"full small", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseProtocol(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseProtocol(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "nexus: ") {
			t.Errorf("ParseProtocol(%q) error %q lacks prefix", tt.in, err)
		}
	}
}

func TestParseMessageType(t *testing.T) {
	tests := []struct {
		in      string
		want    MessageType
		wantErr bool
	}{
		{"ADD_CREDIT", AddCredit, false},
		{"SET_CREDIT", SetCredit, false},
		{"UNLOCK", Unlock, false},
		{"WIPE_STATE", WipeState, false},
		{"FACTORY_ALLOW_TEST", FactoryAllowTest, false},
		{"FACTORY_OQC_TEST", FactoryOQCTest, false},
		{"FACTORY_DISPLAY_PAYG_ID", FactoryDisplayPAYGID, false},
		{"SET_CREDIT_UNLOCK", SetCreditUnlock, false},
		{"MAINTENANCE", Maintenance, false},
		{"CUSTOM_COMMAND", CustomCommand, false},
		{"EXTENDED_SET_CREDIT_WIPE_RESTRICTED_FLAG", ExtendedSetCreditWipeRestrictedFlag, false},
		{"TEST", Test, false},
		{"add_credit", AddCredit, false},
		{"  unlock\t", Unlock, false},
		{"", 0, true},
		{"ADD CREDIT", 0, true},
		{"ADD_CREDITS", 0, true},
		{"PASSTHROUGH_COMMAND", 0, true},
		{"MessageType(1)", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMessageType(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseMessageType(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "nexus: ") {
			t.Errorf("ParseMessageType(%q) error %q lacks prefix", tt.in, err)
		}
	}
}

func TestMessageTypeValidFor(t *testing.T) {
	tests := []struct {
		t           MessageType
		full, small bool
	}{
		{AddCredit, true, true},
		{SetCredit, true, true},
		{Unlock, true, true},
		{WipeState, true, false},
		{FactoryAllowTest, true, false},
		{FactoryOQCTest, true, false},
		{FactoryDisplayPAYGID, true, false},
		{SetCreditUnlock, false, true},
		{Maintenance, false, true},
		{CustomCommand, false, true},
		{ExtendedSetCreditWipeRestrictedFlag, false, true},
		{Test, false, true},
		{MessageType(0), false, false},
		{MessageType(99), false, false},
	}
	for _, tt := range tests {
		if got := tt.t.ValidFor(Full); got != tt.full {
			t.Errorf("%v.ValidFor(Full) = %t", tt.t, got)
		}
		if got := tt.t.ValidFor(Small); got != tt.small {
			t.Errorf("%v.ValidFor(Small) = %t", tt.t, got)
		}
		if tt.t.ValidFor(Protocol(0)) {
			t.Errorf("%v.ValidFor(Protocol(0)) = true", tt.t)
		}
	}
}

func TestParseValueEnums(t *testing.T) {
	tests := []struct {
		parse   func(string) (string, error)
		in      string
		want    string // String() of the result
		wantErr bool
	}{
		{parseString(ParseWipeFlag), "TARGET_FLAGS_0", "TARGET_FLAGS_0", false},
		{parseString(ParseWipeFlag), "TARGET_FLAGS_1", "TARGET_FLAGS_1", false},
		{parseString(ParseWipeFlag), "wipe_ids_all", "WIPE_IDS_ALL", false},
		{parseString(ParseWipeFlag), " WIPE_RESTRICTED_FLAG ", "WIPE_RESTRICTED_FLAG", false},
		{parseString(ParseWipeFlag), "WIPE_STATE_0", "", true},
		{parseString(ParseWipeFlag), "2", "", true},
		{parseString(ParseMaintenanceType), "WIPE_STATE_0", "WIPE_STATE_0", false},
		{parseString(ParseMaintenanceType), "WIPE_STATE_1", "WIPE_STATE_1", false},
		{parseString(ParseMaintenanceType), "WIPE_IDS_ALL", "WIPE_IDS_ALL", false},
		{parseString(ParseMaintenanceType), "TARGET_FLAGS_0", "", true},
		{parseString(ParseTestType), "SHORT_TEST", "SHORT_TEST", false},
		{parseString(ParseTestType), "oqc_test", "OQC_TEST", false},
		{parseString(ParseTestType), "LONG_TEST", "", true},
		{parseString(ParseCustomCommandType), "WIPE_RESTRICTED_FLAG", "WIPE_RESTRICTED_FLAG", false},
		{parseString(ParseCustomCommandType), "", "", true},
	}
	for _, tt := range tests {
		got, err := tt.parse(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parse(%q) = %q, %v; want %q, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "nexus: ") {
			t.Errorf("parse(%q) error %q lacks prefix", tt.in, err)
		}
	}
}

// parseString adapts a Parse function to return the String of its result.
func parseString[T interface{ String() string }](parse func(string) (T, error)) func(string) (string, error) {
	return func(s string) (string, error) {
		v, err := parse(s)
		if err != nil {
			return "", err
		}
		return v.String(), nil
	}
}

func TestEnumStringUnknown(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Protocol(0).String(), "Protocol(0)"},
		{MessageType(42).String(), "MessageType(42)"},
		{WipeFlag(9).String(), "WipeFlag(9)"},
		{MaintenanceType(9).String(), "MaintenanceType(9)"},
		{TestType(9).String(), "TestType(9)"},
		{CustomCommandType(9).String(), "CustomCommandType(9)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}
