local t = ferry.test
t.case("never runs", function() end)
error("set-up went wrong")
