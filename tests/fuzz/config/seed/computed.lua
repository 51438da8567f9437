local t = {} for i = 1, 10 do t[i] = tostring(i) end
return { script_dirs = t, batch_size = #t * 100, data_dir = os.getenv('HOME') or 'd' }