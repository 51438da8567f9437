-- The Lua half of the global `ferry` table, loaded into every integration's
-- state before its script runs (core/fy_vm.c). The C half (json, time, csv,
-- jsonl, sqlite, log, sleep) is already in place.
local ferry = ferry

local contract = require "ferry.contract"

ferry.integration = contract.integration
ferry.source = require "ferry.source"
ferry.sink = require "ferry.sink"
ferry.http = require "ferry.http"
ferry.paginate = require "ferry.paginate"
ferry.lookup = require "ferry.lookup"
ferry.picklist = require "ferry.picklist"
ferry.map = require "ferry.map"
ferry.connector = require "ferry.connector"
require "ferry.runner"     -- loaded now, so it captures the standard library before any script runs

return ferry
