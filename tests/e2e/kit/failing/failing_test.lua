-- Cases that fail on purpose (tests/e2e/test_kit.sh checks how they are reported).
local t = ferry.test
t.case("passes", function() t.eq({ a = { 1, 2 } }, { a = { 1, 2 } }) end)
t.case("deep difference", function() t.eq({ a = { 1, 2 } }, { a = { 1, 3 } }) end)
t.case("raises", function() local x = nil; return x.field end)
t.case("has", function() t.has({ { class = "auth" } }, { class = "validation" }) end)
