-- ferry's config for the pipeline benchmark: the defaults, with a scratch
-- data directory (the store and pipeline.db) and 1,000 records per batch,
-- the transaction size of the baselines.
return {
  data_dir = os.getenv("FERRY_DATA_DIR") or "data",
  batch_size = 1000,
  -- the benchmark script reads its input paths from the environment
  integrations = { ["*"] = { trusted = true } },
  log = { level = "info", format = "json" },
}
