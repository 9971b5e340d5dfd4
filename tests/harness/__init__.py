"""Shared test harness: real SIP clients (SIPp, a raw UDP/TCP client with
digest), and the Edge fixture that runs the stack on ephemeral ports."""
