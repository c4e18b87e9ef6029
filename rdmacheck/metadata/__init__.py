"""Where peers find each other: p2p (embedded, the default) or etcd."""
