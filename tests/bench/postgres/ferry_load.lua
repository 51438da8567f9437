-- The ferry side of the PostgreSQL load benchmark (tests/bench/postgres.sh):
-- the CSV export FERRY_BENCH_INPUT read with ferry.source.csv and upserted by
-- ferry.sink.postgres into accounts(id), as a reporting run would, with the
-- store, run accounting and the checkpoint included.
local input = os.getenv("FERRY_BENCH_INPUT")

return ferry.integration {
  name = "bench-postgres-load",
  owner = "revops@example.com",
  purpose = "Benchmark: a CSV export upserted into PostgreSQL",
  pattern = "reporting",
  source_of_truth = "crm",
  freshness = "26h",
  extract = function(ctx)
    local n = ferry.source.csv(ctx, input)
    ctx:checkpoint { file = input, records = n }
  end,
  load = ferry.sink.postgres {
    database = "reporting", table = "accounts",
    columns = {
      { "id", "integer", key = true }, { "name", "text" }, { "email", "text" }, { "arr", "numeric" },
      { "seats", "integer" }, { "active", "boolean" }, { "updated", "timestamp" },
    },
  },
}
