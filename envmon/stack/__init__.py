"""The local stack: a private PostgreSQL cluster and Mosquitto broker on loopback (the embedded default)."""
