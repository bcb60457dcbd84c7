// Package hirosim is a deterministic, Hiro-compatible Stacks API simulator.
//
// It generates a synthetic Nakamoto-era chain from a seed (burn blocks about
// every 10 minutes with Bitcoin's out-of-order timestamps, Stacks blocks every
// few seconds, a tenure_change and a coinbase opening every tenure, a growing
// heavy-tailed wallet population with real c32check addresses and per-wallet
// nonces, transfers, contract calls, deploys, failed and sponsored
// transactions, amounts beyond 2^53), serves it with the shapes of the real
// Hiro API (/extended/v1/tx, /extended/v3/transactions, /extended/v2/blocks,
// /extended/v2/burn-blocks, status) plus CoinGecko's market_chart, and
// injects the faults a long backfill meets: rate limits with their headers,
// random 429/5xx, truncated bodies, slow responses, live chain growth, reorgs
// at the tip, a 410 sunset of v1 and an absent v3.
//
// The ground truth (GroundTruth, All, Prices) is what a correct backfill must
// end up with. The tests, `mage demo`, `mage sim` and the benchmarks all run
// against it.
//
// Typical use in a test:
//
//	s := hirosim.New(hirosim.Config{Seed: 1, History: 24 * time.Hour})
//	url := s.Start()
//	defer s.Close()
//	s.SetFaults(hirosim.Faults{PerMinute: 50, Rate5xx: 0.05})
//	// ... run the backfill against url ...
//	want := s.GroundTruth(from, to)
//
// Deliberate differences from the hosted API: CoinGecko routes are served
// by the same server but carry no Hiro rate-limit headers; market_chart
// ranges are always daily; /extended/v1/status answers directly instead of
// redirecting to /extended; the simulated chain starts Config.History before
// Config.Now, so list totals count only the simulated transactions.
package hirosim
