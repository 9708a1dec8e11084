"""Timings shared by the tests that inject faults into the stand-in exchange.

The client timeout is generous because a healthy answer took over 0.5 s on a loaded CI machine (an
`500_html` fault surfaced as RequestTimeout); a "slow" fault sleeps well past it so it always times out.
"""
CLIENT_TIMEOUT_MS = 3_000  # ccxt per-request timeout in fault tests
SLOW_DELAY_S = 2 * CLIENT_TIMEOUT_MS / 1000  # how long a "slow" fault sleeps before answering
