// Package lease holds the money rules of a PAYG contract as pure functions:
// plans as data, the allocation waterfall, credit time, and contract status.
// Nothing here touches a database, a clock or the network; every time is
// passed in, with the tenant's time zone for anything reckoned in days.
//
// # Model
//
// A Plan is snapshotted onto a contract. A contract's State is a fold of its
// ledger Lines: Apply (a payment), Reverse (a payment taken back), Charge (a
// penalty or fee owed) and Transition (an operator's status change) each
// return new lines and the new State, and Replay rebuilds the State from
// the lines alone. CheckLedger is the invariant a store can run at any time.
//
// # Rules
//
//   - Money is int64 minor units; there are no floats. A payment in another
//     currency is refused (ErrCurrencyMismatch); nothing is converted.
//   - A payment below the plan's minimum is refused (ErrBelowMinimum); a
//     payment to a paid-off, cancelled, repossessed or written-off contract
//     is refused (ErrContractClosed). Both go to suspense.
//   - The deposit is taken first while unpaid; completing it activates the
//     contract and grants FreeDays of credit (payg_credit).
//   - Then the waterfall, e.g. penalties, fees, arrears, current_due,
//     advance. Whatever is left after the last step is an overpayment line:
//     a credit balance owed to the customer, never dropped. Only a payment
//     that goes beyond the total price can leave anything.
//   - Credit time is whole seconds. A payment of A minor units at Price per
//     period of S seconds buys floor((A×S + carry) / Price) seconds; the
//     remainder stays in State.Carry (a value of Carry/S minor units) for
//     the next payment, so no minor unit is ever lost to rounding, and every
//     credit line shows A×S + CarryBefore = Seconds×Price + CarryAfter.
//     Energy works the same with Wh: floor((A×1000 + carry) / PricePerKWh).
//   - A weekly price buys 7 days and a monthly price 30 days of credit; a
//     day is 86400 s. Instalments fall due every 7 days or on the same day
//     of each calendar month (clamped to the month's end), at the
//     activation's wall-clock time in the tenant's zone.
//   - Credit extends from the current expiry when it is in the future,
//     otherwise from the payment time, so an early payer keeps their days
//     and a late payer is not charged for days without credit.
//   - Instalments by count: floor(financed / N) each, the remainder on the
//     last. By cost: the fixed amount each, the last one smaller.
//   - Days in arrears count local calendar days (midnights in the tenant's
//     zone) after the paid-through instant; late when more than GraceDays,
//     defaulted when more than DefaultDays. These two statuses are derived
//     (StatusAt), never stored, and a defaulted contract that pays up is
//     active again.
//   - Reaching the total price (with no penalty or fee owed) marks the
//     contract paid_off once, on that payment's Result.PaidOff.
package lease
