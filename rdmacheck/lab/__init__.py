"""The Soft-RDMA lab: a throwaway QEMU VM booting Debian's kernel with rxe and siw."""
