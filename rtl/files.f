aes_sim_pkg.sv
aes_round_stage.sv
aes_ctr_pipe.sv
tls_gcm_fifo.sv
tls_gcm_ghash.sv
tls_gcm_engine.sv
