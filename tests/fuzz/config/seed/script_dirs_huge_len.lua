local t = { "x", "x", "x", "x" }
for i = 40, 3, -1 do t[1 << i] = "x" end
t[5] = "x"
return { script_dirs = t }  -- #t is 2^40 with 42 entries
