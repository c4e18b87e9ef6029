"""`rdmacheck bench`: latency, bandwidth and re-establishment cost."""
