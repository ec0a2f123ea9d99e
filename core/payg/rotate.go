package payg

import (
	"context"
	"errors"
	"fmt"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// RotateKeys re-seals every device key of every tenant under next, the new
// master key, a page of devices per transaction. It can be run again after
// an interruption: keys already under next are skipped. It returns how many
// keys it re-sealed.
func (s *Service) RotateKeys(ctx context.Context, next *secretbox.Box) (int, error) {
	if s.box == nil || next == nil {
		return 0, core.Errorf(core.EINVALID, "rotation needs the current and the new master key")
	}
	tenants, err := s.tenants.Tenants(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range tenants {
		req := core.PageRequest{Limit: core.MaxPageLimit}
		for {
			var page core.Page[Device]
			if err := s.store.View(ctx, func(r Reader) error {
				var err error
				page, err = r.ListDevices(ctx, t.ID, req)
				return err
			}); err != nil {
				return n, err
			}
			rotated := 0
			err := s.inTx(ctx, func(tx Tx) error {
				rotated = 0 // the transaction may run again
				for _, listed := range page.Items {
					d, err := tx.LockDevice(ctx, t.ID, listed.ID)
					if err != nil {
						return err
					}
					if len(d.SealedKey) == 0 {
						continue
					}
					key, err := s.box.Open(d.SealedKey, []byte(d.ID))
					if errors.Is(err, secretbox.ErrWrongKey) {
						if _, err := next.Open(d.SealedKey, []byte(d.ID)); err == nil {
							continue // rotated by an earlier, interrupted run
						}
					}
					if err != nil {
						return fmt.Errorf("device %s: %w", d.ID, err)
					}
					if err := tx.UpdateDeviceKey(ctx, t.ID, d.ID, next.Seal(key, []byte(d.ID))); err != nil {
						return err
					}
					rotated++
				}
				return nil
			})
			if err != nil {
				return n, fmt.Errorf("payg: rotate keys of tenant %s: %w", t.ID, err)
			}
			n += rotated
			if page.NextCursor == "" {
				break
			}
			req.Cursor = page.NextCursor
		}
	}
	return n, nil
}
