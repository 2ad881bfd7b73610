"""Upstream forwarding (数据转发): stored readings sent on to provincial or national platforms as an HJ 212
data logger sends them, store-and-forward from a PostgreSQL queue (docs/forwarding.md).

Imports only the kernel: it reads what ingest stored (the `forward_queue` a trigger on `readings` fills).
"""
