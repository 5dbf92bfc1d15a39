"""bench/compare: tlsfront side by side with stunnel4, hitch, HAProxy and nginx (see bench/README.md)."""
