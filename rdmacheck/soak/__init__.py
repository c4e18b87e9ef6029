"""`rdmacheck soak`: restart rounds in a loop, watching RDMA object counts and the survivor's memory."""
