"""Inspection reports: one alert's facts as HTML and PDF, stored with versions, shared by signed links."""
