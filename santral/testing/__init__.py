"""Fakes that speak the real wire protocols, for santral's tests and its users' tests."""
