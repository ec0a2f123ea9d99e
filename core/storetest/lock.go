package storetest

import (
	"context"
	"testing"

	"github.com/payg-gateway/gateway/core/payg"
)

// testLockContractDevices: locking a contract also locks and reads its
// devices (one statement on PostgreSQL), and LockDevice then gives what
// Device reads, until the transaction writes the device; a contract
// without devices locks too.
func testLockContractDevices(t *testing.T, h Harness) {
	w := newWorld(t, h)
	ctx := context.Background()
	second, err := w.svc.CreateDevice(ctx, w.tenant, payg.DeviceInput{
		Serial: "SHS-0002", Scheme: payg.SchemeOpenPAYGO, SecretKeyHex: testKeyHex, StartingCode: testStartingCode, ValueDivider: 2, Counter: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.svc.CreateContract(ctx, w.tenant, payg.ContractInput{
		AccountNumber: "AC100777", CustomerID: w.customer.ID, DeviceIDs: []string{second.ID, w.device.ID}, Plan: w.contract.Plan,
	})
	if err != nil {
		t.Fatal(err)
	}
	bare := w.contract
	bare.ID, bare.ExternalID, bare.AccountNumber, bare.DeviceIDs = "con_nodevices", "", "AC100888", nil
	err = w.pstore.InTx(ctx, func(tx payg.Tx) error {
		if err := tx.InsertContract(ctx, bare); err != nil {
			return err
		}
		locked, err := tx.LockContractByAccount(ctx, w.tenant, "AC100777")
		if err != nil {
			return err
		}
		want := []string{min(second.ID, w.device.ID), max(second.ID, w.device.ID)}
		if len(locked.DeviceIDs) != 2 || locked.DeviceIDs[0] != want[0] || locked.DeviceIDs[1] != want[1] || locked.ID != c.ID {
			t.Errorf("locked contract %s with devices %v, want %s with %v", locked.ID, locked.DeviceIDs, c.ID, want)
		}
		for _, id := range locked.DeviceIDs {
			got, err := tx.LockDevice(ctx, w.tenant, id)
			if err != nil {
				return err
			}
			read, err := tx.Device(ctx, w.tenant, id)
			if err != nil {
				return err
			}
			if got.ID != read.ID || got.Counter != read.Counter || got.ValueDivider != read.ValueDivider || got.Serial != read.Serial ||
				string(got.SealedKey) != string(read.SealedKey) || got.StartingCode != read.StartingCode || !got.UpdatedAt.Equal(read.UpdatedAt) {
				t.Errorf("LockDevice after the contract's lock = %+v, Device = %+v", got, read)
			}
		}
		d, err := tx.LockDevice(ctx, w.tenant, second.ID)
		if err != nil {
			return err
		}
		d.Counter = 42
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		if d, err = tx.LockDevice(ctx, w.tenant, second.ID); err != nil || d.Counter != 42 {
			t.Errorf("LockDevice after UpdateDevice: counter %d, %v; want 42", d.Counter, err)
		}
		if _, err := tx.LockDevice(ctx, "another-tenant", w.device.ID); err == nil {
			t.Error("LockDevice of another tenant's device found it")
		}
		none, err := tx.LockContract(ctx, w.tenant, bare.ID)
		if err != nil || len(none.DeviceIDs) != 0 {
			t.Errorf("LockContract of a contract without devices: %+v, %v", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
