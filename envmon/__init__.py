"""envmon: real-time environmental and safety monitoring for heavy-metal and chemical plants."""

__version__ = "0.1.0"
