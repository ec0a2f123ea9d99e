package nexus

import (
	"fmt"
	"strings"
)

// Protocol is a Nexus Keycode protocol.
type Protocol int

// Nexus Keycode protocols.
const (
	// Full is the 14-digit protocol for keypads with digits, '*' and '#'.
	Full Protocol = iota + 1
	// Small is the 15-key protocol for 4-key keypads (symbols 2..5).
	Small
)

// String returns the protocol name as spelt in the vectors: "full" or "small".
func (p Protocol) String() string {
	switch p {
	case Full:
		return "full"
	case Small:
		return "small"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// ParseProtocol parses "full" or "small" (case-insensitive, surrounding
// space ignored).
func ParseProtocol(s string) (Protocol, error) {
	for p := Full; p <= Small; p++ {
		if equalName(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("nexus: unknown protocol %q (want full or small)", s)
}

// MessageType is a kind of keycode message. Some types exist in only one
// protocol; see [MessageType.ValidFor].
type MessageType int

// Message types. The comment on each names the protocols that define it and
// what [Request.Value] holds for it.
const (
	// AddCredit adds credit. Full: hours 0..99998. Small: days 1..405.
	AddCredit MessageType = iota + 1
	// SetCredit sets credit. Full: hours 0..99998. Small: days 0..960. In
	// both, 0 locks the device.
	SetCredit
	// Unlock unlocks the device for good. Full: SET_CREDIT with 99999 hours.
	// Small: ADD_CREDIT type with body 255. No value.
	Unlock
	// WipeState wipes device state (full only). Value: a [WipeFlag] name.
	WipeState
	// FactoryAllowTest is the factory "allow test" keycode (full only). No
	// value; it uses neither the key nor a message id.
	FactoryAllowTest
	// FactoryOQCTest is the factory OQC test keycode (full only). Value:
	// minutes 1..99; it uses neither the key nor a message id.
	FactoryOQCTest
	// FactoryDisplayPAYGID is the factory "display PAYG ID" keycode (full
	// only). No value; it uses neither the key nor a message id.
	FactoryDisplayPAYGID
	// SetCreditUnlock is an unlock sent as the SET_CREDIT type with body 255
	// (small only). No value.
	SetCreditUnlock
	// Maintenance is a reusable maintenance keycode (small only). It always
	// uses message id 0. Value: a [MaintenanceType] name.
	Maintenance
	// CustomCommand is a custom command (small only). Value: a
	// [CustomCommandType] name.
	CustomCommand
	// ExtendedSetCreditWipeRestrictedFlag sets credit and wipes the
	// restricted flag in one extended (passthrough) message (small only).
	// Value: days 0..960.
	ExtendedSetCreditWipeRestrictedFlag
	// Test is a device test keycode (small only). It always uses message id
	// 0 and the all-0xFF key. Value: a [TestType] name.
	Test
)

// String returns the type name as spelt in the vectors, e.g. "ADD_CREDIT".
func (t MessageType) String() string {
	switch t {
	case AddCredit:
		return "ADD_CREDIT"
	case SetCredit:
		return "SET_CREDIT"
	case Unlock:
		return "UNLOCK"
	case WipeState:
		return "WIPE_STATE"
	case FactoryAllowTest:
		return "FACTORY_ALLOW_TEST"
	case FactoryOQCTest:
		return "FACTORY_OQC_TEST"
	case FactoryDisplayPAYGID:
		return "FACTORY_DISPLAY_PAYG_ID"
	case SetCreditUnlock:
		return "SET_CREDIT_UNLOCK"
	case Maintenance:
		return "MAINTENANCE"
	case CustomCommand:
		return "CUSTOM_COMMAND"
	case ExtendedSetCreditWipeRestrictedFlag:
		return "EXTENDED_SET_CREDIT_WIPE_RESTRICTED_FLAG"
	case Test:
		return "TEST"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

// ParseMessageType parses a message type name as spelt in the vectors, e.g.
// "ADD_CREDIT" or "EXTENDED_SET_CREDIT_WIPE_RESTRICTED_FLAG"
// (case-insensitive, surrounding space ignored). It does not check that the
// type exists in a given protocol; see [MessageType.ValidFor].
func ParseMessageType(s string) (MessageType, error) {
	for t := AddCredit; t <= Test; t++ {
		if equalName(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("nexus: unknown message type %q", s)
}

// ValidFor reports whether protocol p defines message type t.
func (t MessageType) ValidFor(p Protocol) bool {
	switch t {
	case AddCredit, SetCredit, Unlock:
		return p == Full || p == Small
	case WipeState, FactoryAllowTest, FactoryOQCTest, FactoryDisplayPAYGID:
		return p == Full
	case SetCreditUnlock, Maintenance, CustomCommand, ExtendedSetCreditWipeRestrictedFlag, Test:
		return p == Small
	}
	return false
}

// usesKey reports whether the keycode depends on the device secret key.
func (t MessageType) usesKey() bool {
	switch t {
	case FactoryAllowTest, FactoryOQCTest, FactoryDisplayPAYGID, Test:
		return false
	}
	return true
}

// usesID reports whether the keycode carries a caller-chosen message id.
// The other types always use id 0.
func (t MessageType) usesID() bool {
	switch t {
	case FactoryAllowTest, FactoryOQCTest, FactoryDisplayPAYGID, Maintenance, Test:
		return false
	}
	return true
}

// usesValue reports whether the message type takes a value.
func (t MessageType) usesValue() bool {
	switch t {
	case Unlock, SetCreditUnlock, FactoryAllowTest, FactoryDisplayPAYGID:
		return false
	}
	return true
}

// WipeFlag selects what a full-protocol WIPE_STATE message wipes. Its
// numeric value is the one carried in the keycode.
type WipeFlag uint8

// Full-protocol wipe flags.
const (
	// WipeTargetFlags0 wipes credit.
	WipeTargetFlags0 WipeFlag = iota
	// WipeTargetFlags1 wipes credit and the received-id mask.
	WipeTargetFlags1
	// WipeIDsAll wipes the received-id mask only.
	WipeIDsAll
	// WipeRestrictedFlag wipes the application-specific restricted flag.
	WipeRestrictedFlag
)

// String returns the flag name as spelt in the vectors, e.g. "WIPE_IDS_ALL".
func (f WipeFlag) String() string {
	switch f {
	case WipeTargetFlags0:
		return "TARGET_FLAGS_0"
	case WipeTargetFlags1:
		return "TARGET_FLAGS_1"
	case WipeIDsAll:
		return "WIPE_IDS_ALL"
	case WipeRestrictedFlag:
		return "WIPE_RESTRICTED_FLAG"
	}
	return fmt.Sprintf("WipeFlag(%d)", uint8(f))
}

// ParseWipeFlag parses TARGET_FLAGS_0, TARGET_FLAGS_1, WIPE_IDS_ALL or
// WIPE_RESTRICTED_FLAG (case-insensitive, surrounding space ignored).
func ParseWipeFlag(s string) (WipeFlag, error) {
	for f := WipeTargetFlags0; f <= WipeRestrictedFlag; f++ {
		if equalName(s, f.String()) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("nexus: unknown wipe flag %q", s)
}

// MaintenanceType selects a small-protocol MAINTENANCE message. Its numeric
// value is the low bits of the message body.
type MaintenanceType uint8

// Small-protocol maintenance types.
const (
	// MaintenanceWipeState0 wipes credit.
	MaintenanceWipeState0 MaintenanceType = iota
	// MaintenanceWipeState1 wipes credit and the received-id mask.
	MaintenanceWipeState1
	// MaintenanceWipeIDsAll wipes the received-id mask only.
	MaintenanceWipeIDsAll
)

// String returns the type name as spelt in the vectors, e.g. "WIPE_STATE_0".
func (m MaintenanceType) String() string {
	switch m {
	case MaintenanceWipeState0:
		return "WIPE_STATE_0"
	case MaintenanceWipeState1:
		return "WIPE_STATE_1"
	case MaintenanceWipeIDsAll:
		return "WIPE_IDS_ALL"
	}
	return fmt.Sprintf("MaintenanceType(%d)", uint8(m))
}

// ParseMaintenanceType parses WIPE_STATE_0, WIPE_STATE_1 or WIPE_IDS_ALL
// (case-insensitive, surrounding space ignored).
func ParseMaintenanceType(s string) (MaintenanceType, error) {
	for m := MaintenanceWipeState0; m <= MaintenanceWipeIDsAll; m++ {
		if equalName(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("nexus: unknown maintenance type %q", s)
}

// TestType selects a small-protocol TEST message. Its numeric value is the
// message body.
type TestType uint8

// Small-protocol test types.
const (
	// ShortTest is the short device test.
	ShortTest TestType = iota
	// OQCTest is the outgoing-quality-control test.
	OQCTest
)

// String returns the type name as spelt in the vectors, e.g. "SHORT_TEST".
func (t TestType) String() string {
	switch t {
	case ShortTest:
		return "SHORT_TEST"
	case OQCTest:
		return "OQC_TEST"
	}
	return fmt.Sprintf("TestType(%d)", uint8(t))
}

// ParseTestType parses SHORT_TEST or OQC_TEST (case-insensitive, surrounding
// space ignored).
func ParseTestType(s string) (TestType, error) {
	for t := ShortTest; t <= OQCTest; t++ {
		if equalName(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("nexus: unknown test type %q", s)
}

// CustomCommandType selects a small-protocol CUSTOM_COMMAND message. The
// spec reserves message bodies 240..253 for custom commands; only one is
// defined.
type CustomCommandType uint8

// Small-protocol custom commands.
const (
	// CustomWipeRestrictedFlag wipes the application-specific restricted
	// flag (message body 253).
	CustomWipeRestrictedFlag CustomCommandType = iota
)

// String returns the command name as spelt in the vectors, e.g.
// "WIPE_RESTRICTED_FLAG".
func (c CustomCommandType) String() string {
	if c == CustomWipeRestrictedFlag {
		return "WIPE_RESTRICTED_FLAG"
	}
	return fmt.Sprintf("CustomCommandType(%d)", uint8(c))
}

// ParseCustomCommandType parses WIPE_RESTRICTED_FLAG (case-insensitive,
// surrounding space ignored).
func ParseCustomCommandType(s string) (CustomCommandType, error) {
	if equalName(s, CustomWipeRestrictedFlag.String()) {
		return CustomWipeRestrictedFlag, nil
	}
	return 0, fmt.Errorf("nexus: unknown custom command %q", s)
}

// equalName reports whether s names name, ignoring case and surrounding
// space.
func equalName(s, name string) bool {
	return strings.EqualFold(strings.TrimSpace(s), name)
}
