"""`envmon bench chaos`: faults at random moments on a private stack, judged against `envmon replay`."""
