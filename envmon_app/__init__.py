"""The top of envmon: the kernel's and the features' commands composed into one CLI, their components into the demo.

It lives above `envmon` (the kernel), which imports nothing of the features; nothing imports this package.
"""
