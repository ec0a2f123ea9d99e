// Package openpaygo implements OpenPAYGO Token v2: a bit-exact server-side
// encoder and a device-side decoder, written from
// shared/docs/openpaygo-token.md and checked against the vectors produced by
// the reference implementation (EnAccess/OpenPAYGO-python 0.6.3).
//
// A [Device] holds the parameters shared by the server and the device: the
// 16-byte secret [Key], the starting code, the value divider and whether the
// device uses the restricted digit set (digits 1-4). [Device.Encode] and
// [Device.EncodeExtended] issue tokens; [Device.Decode] plays the device and
// checks a token against a device [State].
//
// Tokens are always strings: standard tokens have 9 digits, extended tokens
// 12, and restricted-digit tokens 15 or 20. Leading zeros are significant.
//
// # Differences from the reference
//
// The encoder reproduces the reference exactly for every valid input, but
// rejects what the reference silently accepts: negative values, values
// above 995 (999 999 for extended tokens), and non-zero values for
// DISABLE_PAYG and COUNTER_SYNC. A starting code of 0 is used as given;
// the reference instead derives one from the key. Use [DeriveStartingCode]
// to derive it explicitly.
//
// The decoder follows the reference search and acceptance rules (a +64
// count window, +100 for counter sync, unordered entry of the last 16
// ADD_TIME counts, type from count parity), with these stricter choices:
//
//   - Malformed tokens (wrong length, non-digits, digits outside 1-4 in
//     restricted mode) are rejected with [ErrMalformedToken] instead of being
//     aliased to other values.
//   - An empty [State.UsedCounts] means "no history known", so LastCount and
//     the 16 counts below it are treated as used. The reference instead
//     stops tracking used counts altogether and lets older ADD_TIME tokens
//     be replayed (the rows the test data marks "empty_used_counts_quirk;").
//     [InitialState] seeds a new device's list the same way, so a token at
//     a count below the initial one (such as a count-0 token, which needs
//     only the starting code) is refused; the test vectors seed the list
//     with the initial count alone.
//   - The device count never goes backwards: the highest count the device
//     has seen is max(LastCount, max(UsedCounts)), and the window is
//     measured from that. [State.Apply] never lowers LastCount, even for a
//     counter-sync token below it. The reference simulator lowers the count
//     on such a token, after which old ADD_TIME tokens can be replayed (the
//     rows marked "quirk_after_counter_sync_backward;"); this decoder
//     reports them as ALREADY_USED.
//   - The counter-sync acceptance rule (replayable, may go up to 64 counts
//     backwards) applies to COUNTER_SYNC tokens only, that is value 999 at
//     an odd count. The reference applies it to any token of value 999, so
//     an even-count value-999 token, which decodes as ADD_TIME 999 and which
//     no server issues, is accepted again and again; the one at count 0 is
//     computable from the starting code alone. Here such a token follows the
//     ordinary rules. No test vector has one.
package openpaygo
