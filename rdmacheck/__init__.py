"""rdmacheck: prove RDMA RC connections come up, carry correct data, and come back after a peer restarts."""

__version__ = "0.1.0"
