package openpaygo

import (
	"fmt"

	"github.com/payg-gateway/gateway/core/payg"
)

// Engine issues OpenPAYGO tokens for the lease core (payg.TokenEngine).
// Credit is sent as ADD_TIME tokens of at most MaxValue activation units,
// a day being ValueDivider units (SET_TIME for set_time plans); paying off
// sends DISABLE_PAYG.
type Engine struct{}

var (
	_ payg.TokenEngine       = Engine{}
	_ payg.DeviceProvisioner = Engine{}
	_ payg.CreditSetter      = Engine{}
)

func device(d payg.Device, key []byte) (Device, error) {
	var k Key
	if len(key) != len(k) {
		return Device{}, fmt.Errorf("%w: %d bytes", ErrInvalidKey, len(key))
	}
	copy(k[:], key)
	return Device{Key: k, StartingCode: int(d.StartingCode), ValueDivider: d.ValueDivider, Restricted: d.Restricted}, nil
}

// Provision derives a missing (negative) starting code from the key and
// checks the divider.
func (Engine) Provision(d *payg.Device, key []byte, startingCode int64) error {
	dev, err := device(*d, key)
	if err != nil {
		return err
	}
	if startingCode < 0 {
		startingCode = int64(DeriveStartingCode(dev.Key))
	}
	if startingCode > MaxStartingCode {
		return fmt.Errorf("%w: %d", ErrInvalidStartingCode, startingCode)
	}
	if d.ValueDivider < 1 || d.ValueDivider > MaxValueDivider {
		return fmt.Errorf("%w: %d", ErrInvalidDivider, d.ValueDivider)
	}
	d.StartingCode = startingCode
	return nil
}

// Unit: one activation unit is 1/divider of a day.
func (Engine) Unit(d payg.Device) (seconds, per int64) {
	return 86400, int64(max(d.ValueDivider, 1))
}

// MaxUnits is the largest ADD_TIME value.
func (Engine) MaxUnits(payg.Device) int64 { return MaxValue }

// AddCredit encodes an ADD_TIME token after the device's counter.
func (Engine) AddCredit(d payg.Device, key []byte, units int64) (payg.IssuedCode, error) {
	return encode(d, key, AddTime, units)
}

// SetCredit encodes SET_TIME: the device's remaining time becomes units
// activation units from when it is entered.
func (Engine) SetCredit(d payg.Device, key []byte, units int64) (payg.IssuedCode, error) {
	return encode(d, key, SetTime, units)
}

// Unlock encodes DISABLE_PAYG: the device stays on for good.
func (Engine) Unlock(d payg.Device, key []byte) (payg.IssuedCode, error) {
	return encode(d, key, DisablePAYG, 0)
}

func encode(d payg.Device, key []byte, typ TokenType, value int64) (payg.IssuedCode, error) {
	dev, err := device(d, key)
	if err != nil {
		return payg.IssuedCode{}, err
	}
	code, count, err := dev.Encode(typ, int(value), int(d.Counter))
	if err != nil {
		return payg.IssuedCode{}, err
	}
	switch typ {
	case DisablePAYG:
		value = DisablePAYGValue
	case CounterSync:
		value = CounterSyncValue
	}
	return payg.IssuedCode{Code: code, Type: typ.String(), Value: value, Counter: int64(count)}, nil
}

var _ payg.CounterSyncer = Engine{}

// CounterSync encodes COUNTER_SYNC, which brings a device's count up to the
// server's (for a device migrated from another platform).
func (Engine) CounterSync(d payg.Device, key []byte) (payg.IssuedCode, error) {
	return encode(d, key, CounterSync, 0)
}
