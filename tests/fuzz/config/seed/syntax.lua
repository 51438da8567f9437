return {
 data_dir = 
