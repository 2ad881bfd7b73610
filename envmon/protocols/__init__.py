"""The wire protocols devices speak, below both of their users (ingest decodes, device_sim encodes).

- `hj212`: the HJ 212 codec (framing, CRC, data segment, CP data area, replies) and its readings.
- `mqtt_json`: the MQTT JSON reading message (docs/mqtt.md): its limits, strict decoding, encoding.
- `mqtt_wire`: the few MQTT v5 packets the hot paths build and split themselves.
- `wire_publisher`: a lean MQTT v5 QoS 1 publisher on a plain socket (load generation).

Kernel level: this package imports only `envmon` kernel modules and third-party libraries.
"""
