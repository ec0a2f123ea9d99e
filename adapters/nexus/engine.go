package nexus

import (
	"github.com/payg-gateway/gateway/core/payg"
)

// Engine issues Nexus full-protocol keycodes for the lease core
// (payg.TokenEngine): credit as ADD_CREDIT in whole hours, paying off as
// UNLOCK. Each keycode takes the next message id.
type Engine struct{}

var (
	_ payg.TokenEngine  = Engine{}
	_ payg.CreditSetter = Engine{}
)

// Unit: one unit is an hour.
func (Engine) Unit(payg.Device) (seconds, per int64) { return 3600, 1 }

// MaxUnits is the largest ADD_CREDIT in hours.
func (Engine) MaxUnits(payg.Device) int64 { return MaxFullHours }

// AddCredit encodes ADD_CREDIT for hours under the next message id.
func (Engine) AddCredit(d payg.Device, key []byte, hours int64) (payg.IssuedCode, error) {
	enc, err := NewFullEncoder(key)
	if err != nil {
		return payg.IssuedCode{}, err
	}
	id := uint32(d.Counter + 1)
	code, err := enc.AddCredit(id, int(hours))
	if err != nil {
		return payg.IssuedCode{}, err
	}
	return payg.IssuedCode{Code: code, Type: AddCredit.String(), Value: hours, Counter: int64(id)}, nil
}

// SetCredit encodes SET_CREDIT for hours under the next message id: the
// device's remaining credit becomes hours.
func (Engine) SetCredit(d payg.Device, key []byte, hours int64) (payg.IssuedCode, error) {
	enc, err := NewFullEncoder(key)
	if err != nil {
		return payg.IssuedCode{}, err
	}
	id := uint32(d.Counter + 1)
	code, err := enc.SetCredit(id, int(hours))
	if err != nil {
		return payg.IssuedCode{}, err
	}
	return payg.IssuedCode{Code: code, Type: SetCredit.String(), Value: hours, Counter: int64(id)}, nil
}

// Unlock encodes UNLOCK under the next message id.
func (Engine) Unlock(d payg.Device, key []byte) (payg.IssuedCode, error) {
	enc, err := NewFullEncoder(key)
	if err != nil {
		return payg.IssuedCode{}, err
	}
	id := uint32(d.Counter + 1)
	return payg.IssuedCode{Code: enc.Unlock(id), Type: Unlock.String(), Counter: int64(id)}, nil
}
