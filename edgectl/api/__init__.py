"""The administration HTTP API and web console over the service layer."""
