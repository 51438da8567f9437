-- ferry's config for the ferry.map benchmark: one timed loop applies a
-- transform to 1,000,000 records without handing control back, far past the
-- default guards (which are for integration hooks, not benchmarks).
return {
  limits = { instructions = 1000000000000, call_time = "1h", memory = "1GB" },
}
